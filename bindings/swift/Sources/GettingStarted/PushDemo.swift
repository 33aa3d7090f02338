import Foundation
import WilddogVideo
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

// The push part of docs/getting-started-swift.md, run on a machine without
// APNs: `PushCalls` as the guide shows it, with the console as the call
// screen, and the push read from a test push gateway
// (tests/support/push_gateway.py, which records what wd-signal pushes)
// where a phone would get it from APNs.

/// ``CallScreenUI`` on the console; it remembers the last call reported.
final class ConsoleCallScreen: CallScreenUI, @unchecked Sendable {
    // @unchecked Sendable: `last` is only touched while `lock` is held.
    private let lock = NSLock()
    private var last: UUID?

    var lastCall: UUID? { lock.withLock { last } }

    func reportIncomingCall(_ call: UUID, from caller: String) {
        lock.withLock { last = call }
        print("ringing: a call from \(caller)")
    }

    func reportCallEnded(_ call: UUID, reason: CallEndReason) {
        print("call ended: \(reason)")
    }
}

/// Carol's phone registers its token and sleeps; Alice calls her; the push
/// wakes a new client, which reports the call and answers it.
func pushDemo(url: String, gateway: String) async throws {
    let token = Data((0..<32).map { _ in UInt8.random(in: 0...255) })  // PushKit's token
    do {
        let phone = try await Client.connect(url: url, token: "dev:carol")
        let events = phone.pushEvents
        let calls = PushCalls(client: phone, screen: ConsoleCallScreen())
        try calls.tokenUpdated(token)
        for await event in events {
            if case .registered = event { print("push token registered") }
            break
        }
        withExtendedLifetime(calls) {}
    }  // the app goes to the background: its client is freed

    let alice = try await Client.connect(url: url, token: "dev:alice")
    let invite = try alice.inviteToConversation(
        participantId: "carol",
        options: InviteOptions(userData: "video call", offer: "v=0 (Alice's SDP offer)", lifetime: .seconds(30))
    )
    let payload = try await pushFromGateway(gateway, to: token)

    // The app wakes for the push: a client that connects in the background.
    let woken = try Client.start(Client.Configuration(url: url, token: "dev:carol"))
    let screen = ConsoleCallScreen()
    let calls = PushCalls(client: woken, screen: screen)
    calls.pushReceived(payload)
    guard let call = screen.lastCall else { throw PushDemoError(what: "no call was reported") }
    let conversation = try await calls.answer(call).value  // the user taps answer
    _ = try await invite.accepted()
    print("Carol answered from a push, conversation \(conversation.id == invite.conversationId ? "shared" : "different")")
    withExtendedLifetime(woken) {}
}

/// The APNs payload of the first invite push to `token`, as Sygnal would send
/// it (the device's `default_payload`), waiting up to 10 s for it.
func pushFromGateway(_ gateway: String, to token: Data) async throws -> [AnyHashable: Any] {
    let key = token.map { String(format: "%02x", $0) }.joined()
    let address = try URL(string: "\(gateway)/pushes?pushkey=\(key)&type=wd.invite").orThrow("bad gateway URL")
    let deadline = Date().addingTimeInterval(10)
    while Date() < deadline {
        let (body, _) = try await URLSession.shared.data(from: address)
        if let records = try JSONSerialization.jsonObject(with: body) as? [[String: Any]],
           let data = records.first?["data"] as? [String: Any],
           let payload = data["default_payload"] as? [String: Any] {
            return Dictionary(uniqueKeysWithValues: payload.map { (AnyHashable($0.key), $0.value) })
        }
        try await Task.sleep(for: .milliseconds(50))  // the gateway has not recorded it yet: ask again
    }
    throw PushDemoError(what: "no push to \(key) at \(gateway)")
}

/// The push demo could not go on.
struct PushDemoError: Error {
    let what: String
}

extension Optional {
    func orThrow(_ what: String) throws -> Wrapped {
        guard let value = self else { throw PushDemoError(what: what) }
        return value
    }
}
