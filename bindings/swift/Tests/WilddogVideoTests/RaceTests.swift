import Testing
@testable import WilddogVideo

/// `cancel()` racing the invitee's `accept`: whatever wins, both sides agree.
@Suite struct RaceTests {
    static let rounds = 300

    @Test func cancelRacingAcceptBothSidesAgree() async throws {
        let pair = try await Pair("race")
        var tally: [String: Int] = [:]
        for round in 0..<Self.rounds {
            let outgoing = try pair.alice.inviteToConversation(participantId: pair.bob.uid)
            let aliceEvents = outgoing.events
            let incoming = try await pair.bobInvites.next("Bob's invite, round \(round)")
            // A random head start for the accept spreads the race over both
            // outcomes; nothing waits on it.
            let headStart = Duration.microseconds(Int.random(in: 0...2_000))
            async let canceled: Bool = Self.cancel(outgoing, after: headStart)
            async let accepted: Result<Conversation, any Error> = Self.accept(incoming)
            let (didCancel, acceptResult) = await (canceled, accepted)
            let aliceOutcome = try await first("Alice's outcome, round \(round)", in: aliceEvents, Outcome.init)
            let bobOutcome = try await first("Bob's outcome, round \(round)", in: incoming.events, Outcome.init)

            switch aliceOutcome {
            case .accepted(let id):
                #expect(!didCancel, "round \(round): cancel returned OK but the invite was accepted")
                #expect(bobOutcome == .accepted(conversationId: id), "round \(round)")
                let bobConversation = try acceptResult.get()
                #expect(bobConversation.id == id)
                #expect(outgoing.status == .accepted && incoming.status == .accepted)
                try? outgoing.conversation?.disconnect()
                tally["accepted", default: 0] += 1
            case .canceled(.callerCanceled):
                #expect(didCancel, "round \(round): canceled although cancel() failed")
                #expect(bobOutcome == .canceled(.callerCanceled), "round \(round): Bob saw \(bobOutcome)")
                switch acceptResult {
                case .success: Issue.record("round \(round): Bob's accept returned a conversation of a canceled invite")
                case .failure(let error as WilddogError): #expect(error.code == .invalidState)
                case .failure(let error): #expect(error as? InviteOutcomeError == .canceled(.callerCanceled))
                }
                #expect(outgoing.status == .canceled && incoming.status == .canceled)
                tally["canceled", default: 0] += 1
            default:
                Issue.record("round \(round): Alice saw \(aliceOutcome), Bob \(bobOutcome)")
            }
        }
        #expect(tally.values.reduce(0, +) == Self.rounds)
        print("cancel racing accept, \(Self.rounds) rounds: \(tally.sorted { $0.key < $1.key })")
    }

    static func cancel(_ invite: OutgoingInvite, after headStart: Duration) async -> Bool {
        let clock = ContinuousClock()
        let start = clock.now
        while clock.now - start < headStart {}  // a jitter, not a wait for an event
        do {
            try invite.cancel()
            return true
        } catch {
            #expect(error.code == .invalidState)
            return false
        }
    }

    static func accept(_ invite: IncomingInvite) async -> Result<Conversation, any Error> {
        do {
            return .success(try await within("Bob's accept") { try await invite.accept() })
        } catch {
            return .failure(error)
        }
    }
}
