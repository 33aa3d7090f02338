import Foundation
import Testing
@testable import WilddogVideo

/// Ringing a device that is asleep: its client registers a push key and is
/// freed; the server pushes the invite through the test gateway; a new
/// client, started without waiting for the network, turns the pushed
/// payload into the invite and settles it with the server.
@Suite struct PushTests {
    static let appID = "com.example.app.voip"

    /// A push key no other test uses.
    static func pushKey(_ base: String) -> String { uid("key-\(base)") }

    /// A configuration for `user` on the test server.
    static func configuration(_ user: String) -> Client.Configuration {
        Client.Configuration(url: Env.url, token: "dev:\(user)")
    }

    /// `user`'s phone registers `key` and goes to sleep: its client is
    /// freed (the close handshake is done when this returns), and the
    /// server keeps the registration.
    static func registerAndSleep(_ user: String, key: String) async throws {
        let phone = try await connect(user)
        let events = Mailbox<PushEvent>()
        phone.onPushEvent { events.put($0) }
        try phone.registerPush(PushRegistration(provider: .apns, appID: appID, pushKey: key))
        #expect(try await events.next("the registration") == .registered(appID: appID, pushKey: key))
        #expect(phone.connectionState == .connected)  // the last use: freed after this
    }

    @Test func aWokenClientAcceptsThePushedInvite() async throws {
        let bob = uid("woken-bob")
        let key = Self.pushKey("woken")
        try await Self.registerAndSleep(bob, key: key)

        let alice = try await connect(uid("woken-alice"))
        let options = InviteOptions(userData: "video call", offer: "v=0 offer", lifetime: .seconds(30))
        let outgoing = try alice.inviteToConversation(participantId: bob, options: options)
        let outcomes = Mailbox<Outcome>()
        outgoing.onEvent { event in if let outcome = Outcome(event) { outcomes.put(outcome) } }
        let push = try await Gateway.push(to: key, type: "wd.invite")
        #expect(push.field("conversation_id") == outgoing.conversationId)
        #expect(push.field("from") == alice.uid)
        #expect(!push.rejected)
        #expect(outgoing.status == .pending)  // delivered by push, not failed offline

        // The phone wakes: a new client, and the push before any network.
        let woken = try Client.start(Self.configuration(bob))
        let invite = try woken.handlePush(push.apnsPayload)
        #expect(invite.from == alice.uid)
        #expect(invite.conversationId == outgoing.conversationId)
        #expect(invite.mode == .p2p)
        #expect(invite.userData == "video call")
        #expect(invite.status == .pending)

        // Accepted at once, before the server confirmed the invite: it goes
        // out once the fetch has confirmed it.
        let conversation = try await within("Bob's accept") { try await invite.accept(answer: "v=0 answer") }
        #expect(try await outcomes.next("Alice's outcome") == .accepted(conversationId: outgoing.conversationId))
        #expect(invite.status == .accepted)
        #expect(invite.isConfirmed)
        #expect(invite.offer == "v=0 offer")
        #expect(conversation.id == outgoing.conversationId)
        #expect(conversation === invite.conversation)
        #expect(outgoing.answer == "v=0 answer")
        #expect(woken.uid == bob)
        let aliceSide = try #require(outgoing.conversation)
        #expect(aliceSide.participants == [Participant(uid: bob, device: woken.device)])
        #expect(conversation.participants.map(\.uid) == [alice.uid])
    }

    @Test func confirmationBringsTheOfferAndTheWholeUserData() async throws {
        let bob = uid("confirm-bob")
        let key = Self.pushKey("confirm")
        try await Self.registerAndSleep(bob, key: key)

        let alice = try await connect(uid("confirm-alice"))
        // Too long for a push (2 KiB): the fetch brings it.
        let longText = String(repeating: "u", count: 4000)
        let outgoing = try alice.inviteToConversation(
            participantId: bob, options: InviteOptions(userData: longText, offer: "v=0 offer", lifetime: .seconds(30)))
        let push = try await Gateway.push(to: key, type: "wd.invite")
        #expect(push.field("user_data") == nil)
        #expect(push.flag("user_data_omitted") == true)

        // The payload as FCM or a bare notification would carry it: JSON text.
        let woken = try Client.start(Self.configuration(bob))
        let invite = try woken.handlePush(json: push.content)
        #expect(invite.status == .pending)
        let confirmations = Mailbox<Void>()
        invite.onConfirmed { confirmations.put(()) }
        try await within("the confirmation") { try await invite.confirmed() }
        try await confirmations.next("onConfirmed")
        #expect(invite.isConfirmed)
        #expect(invite.offer == "v=0 offer")
        #expect(invite.userData == longText)
        // A closure added after the confirmation hears it at once.
        let late = Mailbox<Void>()
        invite.onConfirmed { late.put(()) }
        try await late.next("a late onConfirmed")

        let bobSide = Mailbox<Outcome>()
        invite.onEvent { bobSide.put(Outcome($0)) }
        let aliceSide = Mailbox<Outcome>()
        outgoing.onEvent { event in if let outcome = Outcome(event) { aliceSide.put(outcome) } }
        try invite.reject(reason: .busy)
        #expect(try await aliceSide.next("Alice's outcome") == .rejected(.busy))
        #expect(try await bobSide.next("Bob's outcome") == .rejected(.busy))
        #expect(confirmations.count == 1)
        withExtendedLifetime((alice, woken)) {}
    }

    @Test func canceledWhileWakingEndsOnceAndLeavesAMissedCall() async throws {
        let bob = uid("waking-bob")
        let key = Self.pushKey("waking")
        try await Self.registerAndSleep(bob, key: key)

        let alice = try await connect(uid("waking-alice"))
        let outgoing = try alice.inviteToConversation(participantId: bob, options: InviteOptions(lifetime: .seconds(30)))
        let push = try await Gateway.push(to: key, type: "wd.invite")
        // Alice gives up before Bob's phone has woken.
        try outgoing.cancel()
        #expect(outgoing.status == .canceled)
        // The server tells the sleeping phone too: the missed-call push.
        let ended = try await Gateway.push(to: key, type: "wd.invite_ended")
        #expect(ended.field("invite_id") == push.field("invite_id"))

        // The phone wakes with the first push: the invite rings at once,
        // then the fetch finds it canceled.
        let woken = try Client.start(Self.configuration(bob))
        var invite: IncomingInvite? = try woken.handlePush(push.apnsPayload)
        let hub = invite!.hub
        #expect(invite!.from == alice.uid)
        let outcomes = Mailbox<Outcome>()
        invite!.onEvent { outcomes.put(Outcome($0)) }
        #expect(try await outcomes.next("Bob's outcome") == .canceled(.callerCanceled))
        #expect(invite!.status == .canceled)
        #expect(invite!.cancelReason == .callerCanceled)
        #expect(!invite!.isConfirmed)
        do {
            let unconfirmed = invite!
            await #expect(throws: InviteOutcomeError.canceled(.callerCanceled)) {
                try await within("confirmed()") { try await unconfirmed.confirmed() }
            }
            await #expect(throws: WilddogError.self) { _ = try await unconfirmed.accept() }
        }

        // The ended push on the same phone: an ended invite, and no second
        // event for the first one.
        var again: IncomingInvite? = try woken.handlePush(ended.apnsPayload)
        #expect(again!.status == .canceled)
        #expect(again!.cancelReason == .callerCanceled)
        again = nil
        invite = nil
        try await released(hub, "the woken invite's callback")
        #expect(hub.terminalEventsReceived == 1)
        #expect(outcomes.count == 1)

        // Another phone of Bob's wakes only for the ended push: its invite
        // has already ended — the missed call to show — and hears it once.
        let other = try Client.start(Self.configuration(bob))
        let missed = try other.handlePush(ended.apnsPayload)
        #expect(missed.from == alice.uid)
        #expect(missed.conversationId == outgoing.conversationId)
        #expect(missed.status == .canceled)
        #expect(missed.cancelReason == .callerCanceled)
        let heard = Mailbox<Outcome>()
        missed.onEvent { heard.put(Outcome($0)) }
        #expect(try await heard.next("the missed call's outcome") == .canceled(.callerCanceled))
        withExtendedLifetime((alice, woken, other)) {}
    }

    @Test func answeredElsewhereWhileWakingEndsOnce() async throws {
        let bob = uid("elsewhere-bob")
        let key = Self.pushKey("elsewhere")
        try await Self.registerAndSleep(bob, key: key)
        // Bob's laptop is online; his phone sleeps.
        let laptop = try await connect(bob)
        let laptopInvites = Mailbox<IncomingInvite>()
        laptop.onInvite { laptopInvites.put($0) }

        let alice = try await connect(uid("elsewhere-alice"))
        let outgoing = try alice.inviteToConversation(participantId: bob, options: InviteOptions(lifetime: .seconds(30)))
        let push = try await Gateway.push(to: key, type: "wd.invite")
        // The laptop answers before the phone has woken.
        let onLaptop = try await laptopInvites.next("the laptop's invite")
        _ = try await within("the laptop's accept") { try await onLaptop.accept() }
        #expect(try await first("Alice's outcome", in: outgoing.events, Outcome.init) == .accepted(conversationId: outgoing.conversationId))

        // The phone wakes with the push: it rings at once, then the fetch
        // finds the invite answered on the laptop.
        let woken = try Client.start(Self.configuration(bob))
        let invite = try woken.handlePush(push.apnsPayload)
        #expect(invite.from == alice.uid)
        let outcomes = Mailbox<Outcome>()
        invite.onEvent { outcomes.put(Outcome($0)) }
        #expect(try await outcomes.next("the phone's outcome") == .canceled(.answeredElsewhere))
        #expect(invite.status == .canceled)
        #expect(invite.cancelReason == .answeredElsewhere)
        #expect(!invite.isConfirmed)
        #expect(invite.conversation == nil)
        let rejection = try #require(throws: WilddogError.self) { try invite.reject() }
        #expect(rejection.code == .invalidState)
        // The laptop's conversation goes on; the phone heard one end only.
        #expect(onLaptop.status == .accepted)
        #expect(outcomes.count == 1)
        #expect(invite.hub.terminalEventsReceived == 1)
        withExtendedLifetime((alice, laptop, woken)) {}
    }

    @Test func expiredWhileWakingFailsTimeout() async throws {
        let bob = uid("expired-bob")
        let key = Self.pushKey("expired")
        try await Self.registerAndSleep(bob, key: key)

        let alice = try await connect(uid("expired-alice"))
        let outgoing = try alice.inviteToConversation(participantId: bob, options: InviteOptions(lifetime: .milliseconds(500)))
        let push = try await Gateway.push(to: key, type: "wd.invite")
        #expect(try await first("Alice's outcome", in: outgoing.events, Outcome.init) == .failed(.timeout))

        let woken = try Client.start(Self.configuration(bob))
        let invite = try woken.handlePush(push.apnsPayload)
        #expect(try await first("Bob's outcome", in: invite.events, Outcome.init) == .failed(.timeout))
        #expect(invite.status == .failed)
        #expect(invite.failureReason == .timeout)

        // Unanswered: the server pushes the end too, and a phone that
        // wakes only for that push gets an invite already ended — a
        // missed call, heard once.
        let ended = try await Gateway.push(to: key, type: "wd.invite_ended")
        #expect(ended.field("invite_id") == push.field("invite_id"))
        let other = try Client.start(Self.configuration(bob))
        let missed = try other.handlePush(ended.apnsPayload)
        #expect(missed.from == alice.uid)
        #expect(missed.conversationId == outgoing.conversationId)
        #expect(missed.status == .failed)
        #expect(missed.failureReason == .timeout)
        #expect(try await first("the missed call's outcome", in: missed.events, Outcome.init) == .failed(.timeout))
        withExtendedLifetime((alice, woken, other)) {}
    }

    @Test func theSameInviteByPushAndOverTheConnectionIsOneObject() async throws {
        let bob = uid("both-bob")
        let key = Self.pushKey("both")
        try await Self.registerAndSleep(bob, key: key)
        // Bob's laptop is online; his phone sleeps.
        let laptop = try await connect(bob)
        let socketInvites = Mailbox<IncomingInvite>()
        laptop.onInvite { socketInvites.put($0) }

        let alice = try await connect(uid("both-alice"))
        let outgoing = try alice.inviteToConversation(participantId: bob)
        let overSocket = try await socketInvites.next("the laptop's invite")
        let push = try await Gateway.push(to: key, type: "wd.invite")
        // The phone's push reaches the laptop too (one app on both).
        let byPush = try laptop.handlePush(push.apnsPayload)
        #expect(byPush === overSocket)
        #expect(byPush.isConfirmed)
        try await within("confirmed()") { try await byPush.confirmed() }

        let outcomes = Mailbox<Outcome>()
        byPush.onEvent { outcomes.put(Outcome($0)) }
        _ = try await within("the laptop's accept") { try await overSocket.accept() }
        #expect(try await outcomes.next("the laptop's outcome") == .accepted(conversationId: outgoing.conversationId))
        #expect(try await first("Alice's outcome", in: outgoing.events, Outcome.init) == .accepted(conversationId: outgoing.conversationId))
        #expect(socketInvites.count == 1)
        #expect(overSocket.hub.terminalEventsReceived == 1)
        withExtendedLifetime((alice, laptop)) {}
    }

    @Test func malformedPushesAreTypedErrors() async throws {
        let client = try await connect(uid("malformed"))
        let invites = Mailbox<IncomingInvite>()
        client.onInvite { invites.put($0) }
        func payload(_ changes: [String: Any]) throws -> String {
            var object: [String: Any] = [
                "wd": 1, "type": "invite", "invite_id": "i-malformed", "conversation_id": "c-malformed",
                "from": "someone", "device": "n1.1", "mode": "p2p", "time_left_ms": 30000,
                "sent_at_ms": 1_796_400_000_000,
            ]
            object.merge(changes) { $1 }
            return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
        }
        let texts: [(String, String?)] = [
            ("not JSON", nil),
            ("{}", nil),
            (#"{"aps":{"alert":"hello"}}"#, nil),  // someone else's push
            (try payload(["wd": 2]), "wd"),
            (try payload(["from": client.uid]), "from"),
            (try payload(["invite_id": ""]), "invite_id"),
            (try payload(["mode": "carrier pigeon"]), nil),
            ("a\u{0}b", "payload"),
        ]
        for (text, field) in texts {
            let error = try #require(throws: WilddogError.self, "\(text)") { _ = try client.handlePush(json: text) }
            #expect(error.code == .invalidArgument, "\(text): \(error)")
            #expect(!error.message.isEmpty)
            if let field { #expect(error.message.contains(field), "\(text): \(error.message)") }
        }
        let dictionaries: [([AnyHashable: Any], String)] = [
            (["aps": ["content-available": 1]], "type"),  // someone else's push
            (["wd_push": Data([1, 2, 3])], "payload"),  // not JSON at all
            ([AnyHashable(7): "seven"], "payload"),
        ]
        for (dictionary, field) in dictionaries {
            let error = try #require(throws: WilddogError.self) { _ = try client.handlePush(dictionary) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(field), "\(error.message)")
        }
        // Nothing changed: the client is connected and no invite appeared.
        #expect(client.connectionState == .connected)
        #expect(invites.count == 0)
        // A well-formed push still works on the same client; the server
        // knows no such invite, so the fetch ends it as the caller's loss.
        let fine = try client.handlePush(json: try payload([:]))
        #expect(fine.from == "someone")
        #expect(fine.conversationId == "c-malformed")
        #expect(try await first("the unknown invite's outcome", in: fine.events, Outcome.init) == .failed(.callerGone))
    }

    @Test func registrationEventsAndTheirEffect() async throws {
        let bob = uid("events-bob")
        let token = Data([0x5f, 0x1c, 0x00, 0xab, 0xff, 0x10])
        // Registered before the client has connected: sent on connection.
        var phone: Client? = try Client.start(Self.configuration(bob))
        let events = phone!.pushEvents
        let closures = Mailbox<PushEvent>()
        phone!.onPushEvent { closures.put($0) }
        try phone!.registerPush(PushRegistration(provider: .apns, appID: Self.appID, pushKey: token))
        #expect(try await closures.next("registered") == .registered(appID: Self.appID, pushKey: "5f1c00abff10"))
        try phone!.unregisterPush(appID: Self.appID, pushKey: token)
        let unregistered = try await closures.next("unregistered")
        #expect(unregistered == .unregistered(appID: Self.appID, pushKey: "5f1c00abff10"))
        #expect(unregistered.appID == Self.appID)
        #expect(unregistered.pushKey == "5f1c00abff10")
        phone = nil
        // The stream heard the same, and ended with the client.
        let all = try await within("the push events stream") { await collect(events) }
        #expect(all == [.registered(appID: Self.appID, pushKey: "5f1c00abff10"), .unregistered(appID: Self.appID, pushKey: "5f1c00abff10")])
        // Nothing is left to push to: an invite to the sleeping Bob fails offline.
        let alice = try await connect(uid("events-alice"))
        let invite = try alice.inviteToConversation(participantId: bob)
        #expect(try await first("Alice's outcome", in: invite.events, Outcome.init) == .failed(.offline))
        withExtendedLifetime(alice) {}
    }

    @Test func aKeyTheGatewayRejectsIsReported() async throws {
        let bob = uid("dead-bob")
        let key = Self.pushKey("dead")
        try Gateway.reject(key)
        // Bob's laptop holds the registration; then his phone registers the
        // same key (the registration moves to the phone) and sleeps, so the
        // key is pushed while the laptop is still connected to hear of it.
        var laptop: Client? = try await connect(bob)
        let events = Mailbox<PushEvent>()
        laptop!.onPushEvent { events.put($0) }
        try laptop!.registerPush(PushRegistration(provider: .apns, appID: Self.appID, pushKey: key))
        #expect(try await events.next("registered") == .registered(appID: Self.appID, pushKey: key))
        try await Self.registerAndSleep(bob, key: key)

        let alice = try await connect(uid("dead-alice"))
        let ringing = try alice.inviteToConversation(participantId: bob)
        let push = try await Gateway.push(to: key, type: "wd.invite")
        #expect(push.rejected)
        #expect(try await events.next("rejected") == .rejected(appID: Self.appID, pushKey: key))
        try ringing.cancel()
        // The dead key is gone: with the laptop closed too, Bob is offline.
        laptop = nil
        let second = try alice.inviteToConversation(participantId: bob)
        #expect(try await first("the outcome", in: second.events, Outcome.init) == .failed(.offline))
        withExtendedLifetime(alice) {}
    }

    @Test func registrationArgumentsAreChecked() async throws {
        #expect(PushRegistration(provider: .apns, appID: "a", pushKey: Data([0x00, 0xab, 0x1f, 0xff])).pushKey == "00ab1fff")
        #expect(PushRegistration(provider: .fcm, appID: "a", pushKey: Data()).pushKey == "")
        #expect(PushProvider.allCases.map(\.rawValue) == ["apns", "fcm", "webpush"])
        let client = try Client.start(Self.configuration(uid("arguments")))
        let cases: [(PushRegistration, String)] = [
            (PushRegistration(provider: .apns, appID: "", pushKey: "k"), "appId"),
            (PushRegistration(provider: .apns, appID: String(repeating: "a", count: 129), pushKey: "k"), "appId"),
            (PushRegistration(provider: .apns, appID: Self.appID, pushKey: ""), "pushKey"),
            (PushRegistration(provider: .apns, appID: Self.appID, pushKey: String(repeating: "k", count: 513)), "pushKey"),
            (PushRegistration(provider: .webpush, appID: Self.appID, pushKey: "k", data: ["endpoint": String(repeating: "e", count: 3000)]), "data"),
            (PushRegistration(provider: .apns, appID: Self.appID, pushKey: "k\u{0}"), "pushKey"),
        ]
        for (registration, field) in cases {
            let error = try #require(throws: WilddogError.self) { try client.registerPush(registration) }
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains(field), "\(error.message)")
        }
        let empty = try #require(throws: WilddogError.self) { try client.unregisterPush(appID: "", pushKey: "k") }
        #expect(empty.code == .invalidArgument)
        // A good one on the same client still goes through.
        let events = Mailbox<PushEvent>()
        client.onPushEvent { events.put($0) }
        let good = PushRegistration(provider: .webpush, appID: Self.appID, pushKey: Self.pushKey("good"), data: ["endpoint": "http://127.0.0.1:9/p", "auth": "secret"])
        try client.registerPush(good)
        #expect(try await events.next("registered") == .registered(appID: Self.appID, pushKey: good.pushKey))
    }

    @Test func startReturnsAtOnceAndConnectsInTheBackground() async throws {
        let name = uid("started")
        let client = try Client.start(Self.configuration(name))
        let states = client.connectionStates
        #expect(try await first("connected", in: states) { $0 == .connected ? true : nil })
        #expect(client.uid == name)
        #expect(!client.device.isEmpty)

        // An unreachable server is a state, not an error; uid stays unknown.
        var nowhere = Client.Configuration(url: "ws://127.0.0.1:9", token: "dev:\(uid("nowhere"))")
        nowhere.reconnect = false
        let lost = try Client.start(nowhere)
        #expect(lost.uid == "")
        let lostStates = try await within("the states of a client that cannot connect") { await collect(lost.connectionStates) }
        #expect(lostStates.last == .disconnected)
        #expect(!lostStates.contains(.connected))

        // A bad configuration is the one error.
        let error = try #require(throws: WilddogError.self) {
            _ = try Client.start(Client.Configuration(url: "http://127.0.0.1:1", token: "dev:a"))
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("url"))
        withExtendedLifetime(client) {}
    }
}
