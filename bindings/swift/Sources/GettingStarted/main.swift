import WilddogVideo

// The server's URL: `wd-signal --dev` prints it on its first line.
let url = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "ws://127.0.0.1:8480"

// Bob answers every call and says hello back to each message.
let bob = try await Client.connect(url: url, token: "dev:bob")
let answering = Task {
    for await invite in bob.invites {
        print("\(invite.from) calls: \(invite.userData ?? "")")
        let conversation = try await invite.accept(answer: "v=0 (Bob's SDP answer)")
        for await event in conversation.events {
            if case .message(let from, let text) = event {
                print("Bob got \"\(text)\" from \(from.uid)")
                try conversation.send("hello, \(from.uid)", to: from.uid)
            }
        }
    }
}

// Alice calls Bob.
let alice = try await Client.connect(url: url, token: "dev:alice")
let invite = try alice.inviteToConversation(
    participantId: "bob",
    options: InviteOptions(userData: "video call", offer: "v=0 (Alice's SDP offer)", lifetime: .seconds(30))
)
print("\(invite.to) \(invite.status)")  // bob pending
let screen = CallScreen()
screen.watch(invite)

do {
    let conversation = try await invite.accepted()
    print("accepted, answer: \(invite.answer ?? "")")
    let replies = conversation.events  // subscribe before sending
    try conversation.send("hi Bob")
    for await event in replies {
        if case .message(let from, let text) = event {
            print("Alice got \"\(text)\" from \(from.uid)")
            break
        }
    }
    try conversation.disconnect()
} catch let outcome as InviteOutcomeError {
    print("not accepted: \(outcome)")  // .rejected(.busy), .failed(.offline), …
}

// A call that fails is a WilddogError with the library's code and message.
do {
    let tooLong = String(repeating: "x", count: 9000)
    _ = try alice.inviteToConversation(participantId: "bob", options: InviteOptions(userData: tooLong))
} catch {
    print(error.code, error.message)  // invalidArgument userData: longer than 8192 bytes
}

// Given the test push gateway's URL too, Carol's phone is woken by a push
// (PushDemo.swift; see "Push" below).
if CommandLine.arguments.count > 2 {
    try await pushDemo(url: url, gateway: CommandLine.arguments[2])
}

answering.cancel()
print("done")
