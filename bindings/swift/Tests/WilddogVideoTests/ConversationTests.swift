import Testing
@testable import WilddogVideo

/// Conversations: messages both ways, participant events, an invite into a
/// live conversation, leaving.
@Suite struct ConversationTests {
    @Test func messagesBothWays() async throws {
        let pair = try await Pair("messages")
        let (alice, bob) = try await pair.call()
        let atBob = Mailbox<Conversation.Event>()
        bob.onEvent { atBob.put($0) }
        let atAlice = alice.events

        try alice.send("candidate 1", to: pair.bob.uid)
        try alice.send("candidate 2")
        let firstMessage = try await atBob.next("Bob's first message")
        let second = try await atBob.next("Bob's second message")
        guard case .message(let from, "candidate 1") = firstMessage, case .message(_, "candidate 2") = second else {
            Issue.record("Bob heard \(firstMessage), \(second)")
            return
        }
        #expect(from.uid == pair.alice.uid)
        #expect(from.device == pair.alice.device)

        try bob.send("{\"sdp\":\"answer ☎\"}", to: pair.alice.uid)
        let reply = try await first("Alice's message", in: atAlice) { event -> String? in
            if case .message(let from, let payload) = event, from.uid == pair.bob.uid { return payload }
            return nil
        }
        #expect(reply == "{\"sdp\":\"answer ☎\"}")

        // Bad sends are typed errors and change nothing.
        #expect(try #require(throws: WilddogError.self) { try alice.send("x", to: uid("stranger")) }.code == .invalidArgument)
        let tooLong = try #require(throws: WilddogError.self) { try alice.send(String(repeating: "a", count: 65_537)) }
        #expect(tooLong.code == .invalidArgument)
        #expect(tooLong.message.contains("payload"))
        try alice.send("still usable", to: pair.bob.uid)
        guard case .message(_, "still usable") = try await atBob.next("the message after the errors") else {
            Issue.record("the conversation did not stay usable")
            return
        }
    }

    @Test func participantEventsAndAnInviteIntoALiveConversation() async throws {
        let pair = try await Pair("live")
        let (alice, bob) = try await pair.call()
        let carol = try await connect(uid("live-carol"))
        let carolInvites = Mailbox<IncomingInvite>()
        carol.onInvite { carolInvites.put($0) }

        let joinedAtAlice = Mailbox<Participant>()
        let leftAtAlice = Mailbox<(Participant, ParticipantLeftReason)>()
        alice.onParticipantConnected { joinedAtAlice.put($0) }
            .onParticipantDisconnected { leftAtAlice.put(($0, $1)) }
        let joinedAtBob = Mailbox<Participant>()
        bob.onParticipantConnected { joinedAtBob.put($0) }

        let invite = try alice.invite(participantId: carol.uid)
        #expect(invite.conversationId == alice.id)
        let incoming = try await carolInvites.next("Carol's invite")
        #expect(incoming.conversationId == alice.id)
        let carolSide = try await within("Carol's accept") { try await incoming.accept() }
        let aliceSide = try await within("the invite's outcome") { try await invite.accepted() }
        #expect(aliceSide === alice)  // one object per conversation
        #expect(invite.conversation === alice)
        #expect(carolSide.id == alice.id)

        #expect(try await joinedAtAlice.next("Carol joining, at Alice").uid == carol.uid)
        #expect(try await joinedAtBob.next("Carol joining, at Bob").uid == carol.uid)
        #expect(Set(alice.participants.map(\.uid)) == [pair.bob.uid, carol.uid])
        #expect(Set(carolSide.participants.map(\.uid)) == [pair.alice.uid, pair.bob.uid])
        #expect(throws: WilddogError.self) { _ = try alice.invite(participantId: carol.uid) }  // already in it

        let atBob = bob.events
        try carolSide.send("hello all")
        let fromCarol = try await first("Carol's message at Bob", in: atBob) { event -> String? in
            if case .message(let from, let payload) = event, from.uid == carol.uid { return payload }
            return nil
        }
        #expect(fromCarol == "hello all")

        let carolGone = Mailbox<Void>()
        carolSide.onDisconnected { carolGone.put(()) }
        try carolSide.disconnect()
        try await carolGone.next("Carol's disconnected")
        #expect(!carolSide.isConnected)
        let (left, why) = try await leftAtAlice.next("Carol leaving, at Alice")
        #expect(left.uid == carol.uid)
        #expect(why == .left)
        #expect(try #require(throws: WilddogError.self) { try carolSide.disconnect() }.code == .invalidState)
        #expect(try #require(throws: WilddogError.self) { try carolSide.send("late") }.code == .invalidState)

        // Alice leaves; Bob, the last one, is out too.
        let bobEnd = bob.events
        try alice.disconnect()
        let bobSaw = try await within("Bob's end") { await collect(bobEnd) }
        #expect(bobSaw.contains(.participantDisconnected(Participant(uid: pair.alice.uid, device: pair.alice.device), reason: .left)))
        #expect(bobSaw.last == .disconnected)
    }

    @Test func aParticipantWhoseClientDisconnectsIsGoneWithConnectionLost() async throws {
        let pair = try await Pair("gone")
        let (alice, _) = try await pair.call()
        let atAlice = alice.events
        let bob = Participant(uid: pair.bob.uid, device: pair.bob.device)
        try pair.bob.disconnect()  // the client, not the conversation: no leave
        let aliceSaw = try await within("Alice's end") { await collect(atAlice) }
        #expect(aliceSaw == [.participantDisconnected(bob, reason: .connectionLost), .disconnected])
    }
}
