import Testing
@testable import WilddogVideo

/// The four outcomes of an invite, through closures and through async/await
/// and AsyncStream, on both sides.
@Suite struct OutcomeTests {
    @Test func acceptedThroughClosures() async throws {
        let pair = try await Pair("closure-accept")
        let options = InviteOptions(userData: "video call", offer: "v=0 offer", lifetime: .seconds(30))
        let outgoing = try pair.alice.inviteToConversation(participantId: pair.bob.uid, options: options)
        #expect(outgoing.to == pair.bob.uid)
        #expect(!outgoing.conversationId.isEmpty)
        #expect(outgoing.status == .pending)
        #expect(outgoing.conversation == nil)
        #expect(outgoing.answer == nil)

        let ringing = Mailbox<Void>()
        let outcomes = Mailbox<Outcome>()
        outgoing.onRinging { ringing.put(()) }
            .onEvent { event in if let outcome = Outcome(event) { outcomes.put(outcome) } }

        let incoming = try await pair.bobInvites.next("Bob's invite")
        #expect(incoming.from == pair.alice.uid)
        #expect(incoming.conversationId == outgoing.conversationId)
        #expect(incoming.mode == .p2p)
        #expect(incoming.userData == "video call")
        #expect(incoming.offer == "v=0 offer")
        #expect(incoming.status == .pending)
        try await ringing.next("ringing")

        let bobOutcomes = Mailbox<Outcome>()
        incoming.onEvent { bobOutcomes.put(Outcome($0)) }
        let accepting = Task { try await incoming.accept(answer: "v=0 answer", userData: "hi") }

        #expect(try await outcomes.next("Alice's outcome") == .accepted(conversationId: outgoing.conversationId))
        #expect(try await bobOutcomes.next("Bob's outcome") == .accepted(conversationId: outgoing.conversationId))
        let bobConversation = try await accepting.value
        #expect(outgoing.status == .accepted)
        #expect(incoming.status == .accepted)
        #expect(outgoing.answer == "v=0 answer")
        #expect(outgoing.answerUserData == "hi")
        let conversation = try #require(outgoing.conversation)
        #expect(conversation === outgoing.conversation)
        #expect(conversation.id == outgoing.conversationId)
        #expect(bobConversation === incoming.conversation)
        #expect(conversation.participants.map(\.uid) == [pair.bob.uid])
        #expect(bobConversation.participants.map(\.uid) == [pair.alice.uid])
        #expect(conversation.isConnected)
    }

    @Test func rejectedThroughClosures() async throws {
        let pair = try await Pair("closure-reject")
        let (outgoing, incoming) = try await pair.ring()
        let reasons = Mailbox<RejectReason>()
        outgoing.onRejected { reasons.put($0) }
        let bobSide = Mailbox<RejectReason>()
        incoming.onRejected { bobSide.put($0) }
        try incoming.reject(reason: .busy)
        // A proposal until the caller's outcome is back (it may be already).
        #expect([.rejecting, .rejected].contains(incoming.status))
        #expect(try await bobSide.next("Bob's rejected") == .busy)
        #expect(incoming.status == .rejected)
        #expect(try await reasons.next("Alice's rejected") == .busy)
        #expect(outgoing.status == .rejected)
        #expect(outgoing.rejectReason == .busy)
        #expect(throws: WilddogError.self) { try incoming.reject(reason: .declined) }
    }

    @Test func canceledThroughClosures() async throws {
        let pair = try await Pair("closure-cancel")
        let (outgoing, incoming) = try await pair.ring()
        let aliceSide = Mailbox<CancelReason>()
        outgoing.onCanceled { aliceSide.put($0) }
        let bobSide = Mailbox<CancelReason>()
        incoming.onCanceled { bobSide.put($0) }
        try outgoing.cancel()
        #expect(outgoing.status == .canceled)
        #expect(try await aliceSide.next("Alice's canceled") == .callerCanceled)
        #expect(try await bobSide.next("Bob's canceled") == .callerCanceled)
        #expect(incoming.status == .canceled)
        #expect(incoming.cancelReason == .callerCanceled)
        #expect(outgoing.cancelReason == .callerCanceled)
    }

    @Test func failedThroughClosures() async throws {
        let alice = try await connect(uid("closure-fail"))
        let failures = Mailbox<FailureReason>()
        let invite = try alice.inviteToConversation(participantId: uid("nobody-online"))
        invite.onFailed { failures.put($0) }
        #expect(try await failures.next("failed") == .offline)
        #expect(invite.status == .failed)
        #expect(invite.failureReason == .offline)
    }

    @Test func acceptedThroughAsyncAwait() async throws {
        let pair = try await Pair("async-accept")
        let (conversations) = try await pair.call()
        #expect(conversations.alice.id == conversations.bob.id)
        #expect(conversations.alice.mode == .p2p)
    }

    @Test func rejectedThroughAsyncAwait() async throws {
        let pair = try await Pair("async-reject")
        let (outgoing, incoming) = try await pair.ring()
        let waiting = Task { try await outgoing.accepted() }
        try incoming.reject(reason: .declined)
        await #expect(throws: InviteOutcomeError.rejected(.declined)) { try await within("outcome") { try await waiting.value } }
    }

    @Test func canceledThroughAsyncStream() async throws {
        let pair = try await Pair("stream-cancel")
        let (outgoing, incoming) = try await pair.ring()
        let bobEvents = incoming.events
        let aliceEvents = outgoing.events
        try outgoing.cancel()
        let aliceAll = try await within("Alice's events") { await collect(aliceEvents).compactMap(Outcome.init) }
        #expect(aliceAll == [.canceled(.callerCanceled)])  // the stream ends after the outcome
        let bobAll = try await within("Bob's events") { await collect(bobEvents).map(Outcome.init) }
        #expect(bobAll == [.canceled(.callerCanceled)])
        await #expect(throws: InviteOutcomeError.canceled(.callerCanceled)) { try await outgoing.accepted() }
        await #expect(throws: WilddogError.self) { _ = try await incoming.accept() }
    }

    @Test func failedThroughAsyncStreamBothSides() async throws {
        let pair = try await Pair("stream-timeout")
        let (outgoing, incoming) = try await pair.ring(InviteOptions(lifetime: .milliseconds(300)))
        let aliceOutcome = try await first("Alice's outcome", in: outgoing.events, Outcome.init)
        #expect(aliceOutcome == .failed(.timeout))
        let bobOutcome = try await first("Bob's outcome", in: incoming.events, Outcome.init)
        #expect(bobOutcome == .failed(.timeout))
        #expect(incoming.failureReason == .timeout)
        await #expect(throws: InviteOutcomeError.failed(.timeout)) { try await outgoing.accepted() }
    }

    @Test func cancelOnlyWhilePending() async throws {
        let pair = try await Pair("cancel-pending")
        let (outgoing, incoming) = try await pair.ring()
        _ = try await within("accept") { try await incoming.accept() }
        _ = try await within("outcome") { try await outgoing.accepted() }
        let error = try #require(throws: WilddogError.self) { try outgoing.cancel() }
        #expect(error.code == .invalidState)
        #expect(!error.message.isEmpty)
        #expect(outgoing.status == .accepted)

        let failedInvite = try pair.alice.inviteToConversation(participantId: uid("offline"))
        _ = try await first("failed", in: failedInvite.events, Outcome.init)
        let second = try #require(throws: WilddogError.self) { try failedInvite.cancel() }
        #expect(second.code == .invalidState)
        #expect(failedInvite.status == .failed)

        let canceled = try pair.alice.inviteToConversation(participantId: pair.bob.uid)
        try canceled.cancel()
        #expect(try #require(throws: WilddogError.self) { try canceled.cancel() }.code == .invalidState)
        #expect(canceled.status == .canceled)
    }

    @Test func listenerAddedAfterTheOutcomeHearsItOnce() async throws {
        let alice = try await connect(uid("late-listener"))
        var invite: OutgoingInvite? = try alice.inviteToConversation(participantId: uid("offline"))
        let hub = invite!.hub
        weak let weakInvite = invite
        let early = Mailbox<FailureReason>()
        invite!.onFailed { early.put($0) }
        #expect(try await early.next("the first listener") == .offline)

        let late = Mailbox<Outcome>()
        invite!.onEvent { event in if let outcome = Outcome(event) { late.put(outcome) } }
        #expect(try await late.next("the late listener") == .failed(.offline))
        let events = invite!.events
        let lateStream = try await within("a late stream") { await collect(events).compactMap(Outcome.init) }
        #expect(lateStream == [.failed(.offline)])

        // Once the handle is freed and the library released its callback, no
        // more events can come: each listener heard the outcome once.
        invite = nil
        #expect(weakInvite == nil)
        try await released(hub, "the invite's callback")
        #expect(early.count == 1)
        #expect(late.count == 1)
        #expect(hub.terminalEventsReceived == 1)
    }
}
