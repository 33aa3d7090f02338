import CWilddogVideo

/// An invite this client sent (`OutgoingInvite`), from
/// ``Client/inviteToConversation(participantId:options:)`` or
/// ``Conversation/invite(participantId:options:)``.
///
/// Exactly one outcome happens, once: accepted, rejected, canceled or
/// failed, possibly after ``Event/ringing``. A closure or stream added after
/// an event still hears it, once. Dropping the last reference frees the
/// handle; it never cancels the invite.
///
/// `@unchecked Sendable`: the handle is immutable and its C functions may be
/// called from any thread; the hub guards its own state with a lock.
public final class OutgoingInvite: @unchecked Sendable {
    /// An event of the invite.
    public enum Event: Sendable {
        /// A device of the invitee has the invite (at most once, before the outcome).
        case ringing
        /// The invitee accepted: the conversation.
        case accepted(Conversation)
        /// The invitee rejected.
        case rejected(RejectReason)
        /// The invite was canceled (by this client, or it lost a glare).
        case canceled(CancelReason)
        /// The invite failed.
        case failed(FailureReason)

        /// Whether this is the outcome (every case but ``ringing``).
        public var isOutcome: Bool {
            if case .ringing = self { return false }
            return true
        }
    }

    let handle: OpaquePointer
    let hub: OutgoingHub

    /// The invitee's user id.
    public let to: String
    /// The id of the conversation the invite is for (known at once).
    public let conversationId: String

    init(owning handle: OpaquePointer) {
        self.handle = handle
        self.to = ownedString { wd_outgoing_invite_to(handle, $0) } ?? ""
        self.conversationId = ownedString { wd_outgoing_invite_conversation_id(handle, $0) } ?? ""
        self.hub = OutgoingHub(policy: .all, isTerminal: { $0.isOutcome })
        let box = hub.retainedForC()
        if wd_outgoing_invite_set_callback(handle, outgoingInviteCallback, box, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(box).release()
        }
    }

    /// Frees the handle (`wd_outgoing_invite_free`); the invite goes on.
    deinit {
        wd_outgoing_invite_free(handle)
    }

    /// The status now; it changes as soon as the outcome is decided, before
    /// its event is delivered.
    public var status: OutgoingStatus {
        enumValue { wd_outgoing_invite_status(handle, $0) } ?? .failed
    }

    /// Why the invite failed, or `nil`.
    public var failureReason: FailureReason? {
        enumValue { wd_outgoing_invite_failure_reason(handle, $0) }
    }

    /// Why the invitee rejected, or `nil`.
    public var rejectReason: RejectReason? {
        enumValue { wd_outgoing_invite_reject_reason(handle, $0) }
    }

    /// Why the invite was canceled, or `nil`.
    public var cancelReason: CancelReason? {
        enumValue { wd_outgoing_invite_cancel_reason(handle, $0) }
    }

    /// The conversation, once the invite is accepted (`nil` before). The same
    /// object every time; for an invite into a live conversation, that
    /// conversation's object.
    public var conversation: Conversation? {
        hub.conversation { () -> OpaquePointer? in
            var conversation: OpaquePointer?
            return wd_outgoing_invite_conversation(handle, &conversation) == WD_RESULT_OK.rawValue ? conversation : nil
        }
    }

    /// The SDP answer the invitee sent with its accept ("" if none); `nil`
    /// unless accepted.
    public var answer: String? {
        try? copyOut { wd_outgoing_invite_answer(handle, $0, $1, $2) }
    }

    /// The `userData` text the invitee sent with its accept ("" if none);
    /// `nil` unless accepted.
    public var answerUserData: String? {
        try? copyOut { wd_outgoing_invite_answer_user_data(handle, $0, $1, $2) }
    }

    /// Cancels the invite. Valid only while ``OutgoingStatus/pending``: the
    /// status is `canceled` when this returns and ``Event/canceled(_:)``
    /// fires once.
    ///
    /// - Throws: ``WilddogError`` with `.invalidState` in any other status
    ///   (nothing changes).
    public func cancel() throws(WilddogError) {
        try check(wd_outgoing_invite_cancel(handle))
    }

    /// Calls `handler` with every event: the past ones at once (on the
    /// calling thread), later ones on the client's event thread. Returns the
    /// invite, to chain calls. After the outcome the invite drops its
    /// closures, so one may capture the invite.
    @discardableResult
    public func onEvent(_ handler: @escaping @Sendable (Event) -> Void) -> OutgoingInvite {
        hub.add(handler)
        return self
    }

    /// Calls `handler` when a device of the invitee rings.
    @discardableResult
    public func onRinging(_ handler: @escaping @Sendable () -> Void) -> OutgoingInvite {
        onEvent { if case .ringing = $0 { handler() } }
    }

    /// Calls `handler` with the conversation when the invite is accepted.
    @discardableResult
    public func onAccepted(_ handler: @escaping @Sendable (Conversation) -> Void) -> OutgoingInvite {
        onEvent { if case .accepted(let conversation) = $0 { handler(conversation) } }
    }

    /// Calls `handler` with the reason when the invite is rejected.
    @discardableResult
    public func onRejected(_ handler: @escaping @Sendable (RejectReason) -> Void) -> OutgoingInvite {
        onEvent { if case .rejected(let reason) = $0 { handler(reason) } }
    }

    /// Calls `handler` with the reason when the invite is canceled.
    @discardableResult
    public func onCanceled(_ handler: @escaping @Sendable (CancelReason) -> Void) -> OutgoingInvite {
        onEvent { if case .canceled(let reason) = $0 { handler(reason) } }
    }

    /// Calls `handler` with the reason when the invite fails.
    @discardableResult
    public func onFailed(_ handler: @escaping @Sendable (FailureReason) -> Void) -> OutgoingInvite {
        onEvent { if case .failed(let reason) = $0 { handler(reason) } }
    }

    /// The events as a stream: past ones first; it finishes after the outcome.
    public var events: AsyncStream<Event> { hub.stream() }

    /// Waits for the outcome and returns the conversation if the invite was
    /// accepted.
    ///
    /// - Throws: ``InviteOutcomeError`` for any other outcome;
    ///   `CancellationError` if the task is canceled first (the invite is
    ///   not).
    public func accepted() async throws -> Conversation {
        for await event in events {
            switch event {
            case .ringing: continue
            case .accepted(let conversation): return conversation
            case .rejected(let reason): throw InviteOutcomeError.rejected(reason)
            case .canceled(let reason): throw InviteOutcomeError.canceled(reason)
            case .failed(let reason): throw InviteOutcomeError.failed(reason)
            }
        }
        throw CancellationError()
    }
}

/// The hub of an invite: its events, and the conversation once there is one.
class InviteHub<Event: Sendable>: EventHub<Event>, @unchecked Sendable {
    // @unchecked Sendable: `cachedConversation` is guarded by `lock`.
    private var cachedConversation: Conversation?

    /// The conversation, fetched (a new reference, `nil` if there is none
    /// yet) and wrapped the first time.
    func conversation(fetch: () -> OpaquePointer?) -> Conversation? {
        lock.lock()
        if let cachedConversation {
            lock.unlock()
            return cachedConversation
        }
        lock.unlock()
        guard let pointer = fetch() else { return nil }
        let conversation = Conversation.wrap(owning: pointer)
        lock.lock()
        defer { lock.unlock() }
        if cachedConversation == nil { cachedConversation = conversation }
        return cachedConversation
    }
}

typealias OutgoingHub = InviteHub<OutgoingInvite.Event>

private let outgoingInviteCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<wd_outgoing_event>?) -> Void = { userData, invite, event in
    guard let userData, let invite, let event else { return }
    let hub = OutgoingHub.from(userData)
    let raw = event.pointee
    switch OutgoingEventKind(rawValue: raw.kind) {
    case .ringing:
        hub.publish(.ringing)
    case .accepted:
        let conversation = hub.conversation { () -> OpaquePointer? in
            var conversation: OpaquePointer?
            return wd_outgoing_invite_conversation(invite, &conversation) == WD_RESULT_OK.rawValue ? conversation : nil
        }
        if let conversation { hub.publish(.accepted(conversation)) }
    case .rejected:
        hub.publish(.rejected(RejectReason(rawValue: raw.reject_reason) ?? .declined))
    case .canceled:
        hub.publish(.canceled(CancelReason(rawValue: raw.cancel_reason) ?? .callerCanceled))
    case .failed:
        hub.publish(.failed(FailureReason(rawValue: raw.failure_reason) ?? .serverError))
    case nil:
        break  // a kind newer than this wrapper
    }
}
