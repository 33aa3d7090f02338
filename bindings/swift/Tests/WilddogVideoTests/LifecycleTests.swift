import Foundation
import Testing
@testable import WilddogVideo

/// Several devices, dropping handles (also from inside their own closures),
/// memory, connection states and manual dispatch.
@Suite struct LifecycleTests {
    @Test func twoDevicesOfOneUserFirstAnswerWins() async throws {
        let alice = try await connect(uid("devices-alice"))
        let bobID = uid("devices-bob")
        let phone = try await connect(bobID)
        let laptop = try await connect(bobID)
        #expect(phone.uid == laptop.uid)
        #expect(phone.device != laptop.device)
        let atPhone = Mailbox<IncomingInvite>()
        let atLaptop = Mailbox<IncomingInvite>()
        phone.onInvite { atPhone.put($0) }
        laptop.onInvite { atLaptop.put($0) }

        let outgoing = try alice.inviteToConversation(participantId: bobID)
        let onPhone = try await atPhone.next("the phone's invite")
        let onLaptop = try await atLaptop.next("the laptop's invite")
        #expect(onPhone.conversationId == onLaptop.conversationId)
        let laptopEvents = onLaptop.events

        let conversation = try await within("the phone's accept") { try await onPhone.accept() }
        let laptopSaw = try await within("the laptop's outcome") { await collect(laptopEvents).map(Outcome.init) }
        #expect(laptopSaw == [.canceled(.answeredElsewhere)])
        #expect(onLaptop.status == .canceled)
        #expect(onLaptop.cancelReason == .answeredElsewhere)
        #expect(try #require(throws: WilddogError.self) { try onLaptop.reject() }.code == .invalidState)
        let aliceSide = try await within("Alice's outcome") { try await outgoing.accepted() }
        #expect(aliceSide.participants == [Participant(uid: bobID, device: phone.device)])
        #expect(conversation.id == aliceSide.id)
    }

    @Test func droppingAClientWithPendingInvitesEndsEachOnce() async throws {
        let pair = try await Pair("drop-client")
        var alice: Client? = try await connect(uid("drop-client-alice"))
        var invites: [OutgoingInvite] = []
        var ringing: [Mailbox<Void>] = []
        var outcomes: [Mailbox<Outcome>] = []
        for _ in 0..<3 {
            let invite = try alice!.inviteToConversation(participantId: pair.bob.uid)
            let rang = Mailbox<Void>()
            let outcome = Mailbox<Outcome>()
            invite.onEvent { event in
                if let value = Outcome(event) { outcome.put(value) } else { rang.put(()) }
            }
            invites.append(invite)
            ringing.append(rang)
            outcomes.append(outcome)
        }
        for rang in ringing { try await rang.next("ringing") }
        weak let weakAlice = alice
        alice = nil  // frees the client: closes the connection
        #expect(weakAlice == nil)
        for outcome in outcomes {
            #expect(try await outcome.next("the outcome after the drop") == .failed(.network))
        }
        #expect(invites.allSatisfy { $0.status == .failed && $0.failureReason == .network })
        // Free the handles; once the library released each callback no
        // further event can come: each ended once.
        let hubs = invites.map(\.hub)
        invites.removeAll()
        for hub in hubs { try await released(hub, "an invite's callback") }
        #expect(hubs.allSatisfy { $0.terminalEventsReceived == 1 })
        #expect(outcomes.allSatisfy { $0.count == 1 })
    }

    @Test func droppingAnInviteInsideItsOwnCallback() async throws {
        let alice = try await connect(uid("drop-inside"))
        // The closure holds the only reference and drops it when the outcome comes.
        final class Holder: @unchecked Sendable {
            // @unchecked Sendable: `invite` is guarded by `lock`.
            let lock = NSLock()
            var invite: OutgoingInvite?
        }
        let holder = Holder()
        let dropped = Mailbox<Bool>()
        let invite = try alice.inviteToConversation(participantId: uid("offline"))
        let hub = invite.hub
        holder.invite = invite
        weak let weakInvite = invite
        invite.onFailed { _ in
            holder.lock.lock()
            let mine = holder.invite
            holder.invite = nil
            holder.lock.unlock()
            dropped.put(mine != nil)
            _ = mine  // the last reference goes here, inside the invite's own closure
        }
        _ = consume invite
        #expect(try await dropped.next("the drop inside the callback"))
        try await released(hub, "the invite's callback")
        #expect(weakInvite == nil)
        #expect(hub.terminalEventsReceived == 1)

        // The same on the invitee's side: the invite handle is dropped from its own closure.
        let pair = try await Pair("drop-inside-incoming")
        let outgoing = try pair.alice.inviteToConversation(participantId: pair.bob.uid)
        var incoming: IncomingInvite? = try await pair.bobInvites.next("Bob's invite")
        let incomingHub = incoming!.hub
        let incomingHolder = Locked<IncomingInvite?>(incoming)
        let heard = Mailbox<CancelReason>()
        incoming!.onCanceled { reason in
            let last = incomingHolder.withLock { held -> IncomingInvite? in
                defer { held = nil }
                return held
            }
            heard.put(reason)
            _ = last
        }
        incoming = nil
        try outgoing.cancel()
        #expect(try await heard.next("Bob's canceled") == .callerCanceled)
        try await released(incomingHub, "the incoming invite's callback")
    }

    @Test func aDroppedClientIsFreedDespiteItsClosures() async throws {
        let name = uid("weak-client")
        var client: Client? = try await connect(name)
        let invitesHub = client!.invitesHub
        let stateHub = client!.stateHub
        let states = Mailbox<ConnectionState>()
        // Closures that do not capture the client: the client's own boxes
        // must not keep it alive either.
        client!.onInvite { _ in }.onConnectionStateChange { states.put($0) }
        let stream = client!.invites
        #expect(try await states.next("the current state") == .connected)
        weak let weakClient = client
        client = nil
        #expect(weakClient == nil)
        try await released(invitesHub, "the invite callback")
        try await released(stateHub, "the connection callback")
        // The stream of a freed client ends.
        #expect(try await within("the invites stream to end") { await collect(stream) }.isEmpty)
        // The server no longer knows the device.
        let caller = try await connect(uid("weak-client-caller"))
        let invite = try caller.inviteToConversation(participantId: name)
        #expect(try await first("outcome", in: invite.events, Outcome.init) == .failed(.offline))
    }

    @Test func connectionStatesThroughClosureAndStream() async throws {
        let client = try await connect(uid("states"))
        #expect(client.connectionState == .connected)
        #expect(!client.device.isEmpty)
        let heard = Mailbox<ConnectionState>()
        client.onConnectionStateChange { heard.put($0) }
        #expect(try await heard.next("the current state") == .connected)
        let stream = client.connectionStates
        let pending = try client.inviteToConversation(participantId: uid("someone"), options: InviteOptions(lifetime: .seconds(30)))
        try client.disconnect()
        try client.disconnect()  // again: nothing
        #expect(client.connectionState == .disconnected)
        #expect(try await heard.next("disconnected") == .disconnected)
        let all = try await within("the states stream") { await collect(stream) }
        #expect(all == [.connected, .disconnected])
        let outcome = try await first("the pending invite's outcome", in: pending.events, Outcome.init)
        #expect(outcome == .failed(.network) || outcome == .failed(.offline))
        #expect(try #require(throws: WilddogError.self) { _ = try client.inviteToConversation(participantId: "x") }.code == .notConnected)
    }

    @Test func manualDispatchRunsClosuresOnTheCallingThread() async throws {
        let client = try await connect(uid("manual"), dispatch: .manual)
        let invite = try client.inviteToConversation(participantId: uid("offline"))
        let heard = Locked<[FailureReason]>([])
        invite.onFailed { reason in heard.withLock { $0.append(reason) } }
        // Which thread ran the closure: the app's loop, inside dispatch().
        let loopThread = Locked<pthread_t?>(nil)
        let closureThread = Mailbox<pthread_t>()
        invite.onEvent { _ in closureThread.put(pthread_self()) }
        let loop = Thread {
            loopThread.withLock { $0 = pthread_self() }
            // The app's own loop: dispatch until the outcome was heard (bounded).
            let deadline = Date().addingTimeInterval(15)
            while heard.withLock({ $0.isEmpty }) && Date() < deadline {
                _ = try? client.dispatch(timeout: .milliseconds(100))
            }
        }
        loop.start()
        let ranOn = try await closureThread.next("the outcome")
        #expect(heard.withLock { $0 } == [.offline])
        let loopID = try #require(loopThread.withLock { $0 })
        #expect(pthread_equal(ranOn, loopID) != 0)
        let threadDispatch = try await connect(uid("thread-mode"))
        #expect(try #require(throws: WilddogError.self) { try threadDispatch.dispatch(timeout: .zero) }.code == .invalidState)
    }
}
