import CWilddogVideo

/// An invite this client received (`IncomingInvite`), handed to
/// ``Client/onInvite(_:)`` and ``Client/invites``, or made from a push by
/// ``Client/handlePush(_:)``. There is one object per invite: the same
/// invite through a push and over the connection is the same object.
///
/// Answer it with ``accept(answer:userData:)`` or ``reject(reason:)``.
/// Exactly one outcome event fires, once; a closure or stream added after it
/// still hears it, once. Dropping the last reference frees the handle; it
/// never rejects the invite (an unanswered invite rings until its lifetime
/// ends).
///
/// `@unchecked Sendable`: the handle is immutable and its C functions may be
/// called from any thread; the hub guards its own state with a lock.
public final class IncomingInvite: @unchecked Sendable {
    /// An event of the invite.
    public enum Event: Sendable {
        /// The caller confirmed this device's accept: the conversation.
        case accepted(Conversation)
        /// The caller's outcome is this device's reject.
        case rejected(RejectReason)
        /// The caller canceled, or another device of this user answered first.
        case canceled(CancelReason)
        /// The invite failed here.
        case failed(FailureReason)
    }

    let handle: OpaquePointer
    let hub: IncomingHub

    /// The caller's user id.
    public let from: String
    /// The id of the conversation the invite is for.
    public let conversationId: String
    /// How the conversation carries media.
    public let mode: Mode

    /// The text the caller sent to show (at most 8 KiB), if any. For an
    /// invite made from a push, the text the push carried (`nil` when it
    /// did not fit in the push) until the invite is confirmed, then the
    /// whole text.
    public var userData: String? {
        ownedString { wd_incoming_invite_user_data(handle, $0) }
    }

    /// The caller's SDP offer (at most 64 KiB), if any. A push never
    /// carries it: for an invite made from a push it is `nil` until the
    /// invite is confirmed (``confirmed()``).
    public var offer: String? {
        ownedString { wd_incoming_invite_offer(handle, $0) }
    }

    private init(owning handle: OpaquePointer) {
        self.handle = handle
        self.from = ownedString { wd_incoming_invite_from(handle, $0) } ?? ""
        self.conversationId = ownedString { wd_incoming_invite_conversation_id(handle, $0) } ?? ""
        self.mode = enumValue { wd_incoming_invite_mode(handle, $0) } ?? .p2p
        self.hub = IncomingHub(policy: .all, isTerminal: { _ in true })
        let box = hub.retainedForC()
        if wd_incoming_invite_set_callback(handle, incomingInviteCallback, box, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(box).release()
        }
        // An invite that came over the connection is confirmed from the
        // start, and the library sends no event for it: say so here. (For a
        // pushed invite the event and this check may race; the hub keeps
        // the first.)
        if isConfirmed { hub.settleConfirmation(.confirmed) }
    }

    /// The one live wrapper of each C invite, by pointer (the library hands
    /// out equal pointers for the same invite, whether from the connection
    /// or from a push).
    private static let live = Locked<[UnsafeMutableRawPointer: WeakIncomingInvite]>([:])

    /// The wrapper of `pointer` (a new reference the caller hands over): the
    /// live one if there is one (the extra reference is freed), else a new one.
    static func wrap(owning pointer: OpaquePointer) -> IncomingInvite {
        let key = UnsafeMutableRawPointer(pointer)
        var extra: OpaquePointer?
        let invite = live.withLock { table -> IncomingInvite in
            if let existing = table[key]?.value {
                extra = pointer
                return existing
            }
            let created = IncomingInvite(owning: pointer)
            table[key] = WeakIncomingInvite(created)
            return created
        }
        if let extra { wd_incoming_invite_free(extra) }
        return invite
    }

    /// Frees the handle (`wd_incoming_invite_free`); the invite goes on.
    deinit {
        let key = UnsafeMutableRawPointer(handle)
        IncomingInvite.live.withLock { table in
            if table[key]?.value == nil { table[key] = nil }
        }
        wd_incoming_invite_free(handle)
    }

    /// The status now; it changes as soon as the outcome is known, before
    /// its event is delivered.
    public var status: IncomingStatus {
        enumValue { wd_incoming_invite_status(handle, $0) } ?? .failed
    }

    /// Why the invite failed, or `nil`.
    public var failureReason: FailureReason? {
        enumValue { wd_incoming_invite_failure_reason(handle, $0) }
    }

    /// Why the invite was canceled, or `nil`.
    public var cancelReason: CancelReason? {
        enumValue { wd_incoming_invite_cancel_reason(handle, $0) }
    }

    /// Whether the server confirmed that the invite still rings: always
    /// true for an invite that came over the connection; for one made from
    /// a push, true once the woken client fetched it and found it pending.
    public var isConfirmed: Bool {
        var confirmed = false
        _ = wd_incoming_invite_confirmed(handle, &confirmed)
        return confirmed
    }

    /// Waits until the server confirmed the invite still rings
    /// (``isConfirmed``; at once for an invite that came over the
    /// connection). Then ``offer`` and the whole ``userData`` are readable.
    ///
    /// - Throws: ``InviteOutcomeError`` when the invite ended first (it
    ///   ended while the app was waking: `.canceled(.callerCanceled)`,
    ///   `.canceled(.answeredElsewhere)`, `.failed(.timeout)`,
    ///   `.failed(.callerGone)`, …); `CancellationError` if the task is
    ///   canceled while waiting.
    public func confirmed() async throws {
        for await step in hub.confirmation.stream() {
            switch step {
            case .confirmed, .ended(.accepted): return
            case .ended(.rejected(let reason)): throw InviteOutcomeError.rejected(reason)
            case .ended(.canceled(let reason)): throw InviteOutcomeError.canceled(reason)
            case .ended(.failed(let reason)): throw InviteOutcomeError.failed(reason)
            }
        }
        throw CancellationError()
    }

    /// Calls `handler` once the server confirmed the invite still rings: at
    /// once (on the calling thread) if it already did, else on the client's
    /// event thread, before any outcome event. Never called for an invite
    /// that ended unconfirmed. Returns the invite, to chain calls.
    @discardableResult
    public func onConfirmed(_ handler: @escaping @Sendable () -> Void) -> IncomingInvite {
        hub.confirmation.add { if case .confirmed = $0 { handler() } }
        return self
    }

    /// The conversation, once accepted (`nil` before); the same object every time.
    public var conversation: Conversation? {
        hub.conversation { () -> OpaquePointer? in
            var conversation: OpaquePointer?
            return wd_incoming_invite_conversation(handle, &conversation) == WD_RESULT_OK.rawValue ? conversation : nil
        }
    }

    /// Accepts the invite, sending `answer` (SDP, at most 64 KiB) and
    /// `userData` (at most 8 KiB) to the caller, and waits until the caller
    /// confirms. The status is ``IncomingStatus/accepting`` meanwhile. For
    /// an invite made from a push the accept waits for the server's
    /// confirmation of the invite, then goes out.
    ///
    /// - Returns: the conversation.
    /// - Throws: ``WilddogError`` if the call fails (`.invalidState` when the
    ///   invite is no longer pending, `.invalidArgument`, `.notConnected`);
    ///   ``InviteOutcomeError`` when the invite ends otherwise (the caller
    ///   canceled first, the confirmation timed out); `CancellationError` if
    ///   the task is canceled while waiting.
    public func accept(answer: String? = nil, userData: String? = nil) async throws -> Conversation {
        let outcome = events
        try withOptionalCString(answer, field: "answer") { (answer) throws(WilddogError) in
            try withOptionalCString(userData, field: "userData") { (userData) throws(WilddogError) in
                try check(wd_incoming_invite_accept(handle, answer, userData))
            }
        }
        for await event in outcome {
            switch event {
            case .accepted(let conversation): return conversation
            case .rejected(let reason): throw InviteOutcomeError.rejected(reason)
            case .canceled(let reason): throw InviteOutcomeError.canceled(reason)
            case .failed(let reason): throw InviteOutcomeError.failed(reason)
            }
        }
        throw CancellationError()
    }

    /// Rejects the invite. Valid only while ``IncomingStatus/pending``: the
    /// status is ``IncomingStatus/rejecting`` when this returns and the
    /// caller is told. The caller decides, as for an accept:
    /// ``Event/rejected(_:)`` fires once the caller's outcome is this
    /// reject; ``Event/canceled(_:)`` if the caller canceled (or another
    /// device answered) first; ``Event/failed(_:)`` with
    /// `.confirmTimeout` if no outcome comes back. Both sides end the same
    /// way.
    ///
    /// - Throws: ``WilddogError`` with `.invalidState` if not pending
    ///   (nothing changes) or `.notConnected`.
    public func reject(reason: RejectReason = .declined) throws(WilddogError) {
        try check(wd_incoming_invite_reject(handle, reason.rawValue))
    }

    /// Calls `handler` with the outcome: at once (on the calling thread) if it
    /// already happened, else on the client's event thread. Returns the
    /// invite, to chain calls. After the outcome the invite drops its
    /// closures, so one may capture the invite.
    @discardableResult
    public func onEvent(_ handler: @escaping @Sendable (Event) -> Void) -> IncomingInvite {
        hub.add(handler)
        return self
    }

    /// Calls `handler` with the conversation once the caller confirmed the accept.
    @discardableResult
    public func onAccepted(_ handler: @escaping @Sendable (Conversation) -> Void) -> IncomingInvite {
        onEvent { if case .accepted(let conversation) = $0 { handler(conversation) } }
    }

    /// Calls `handler` with the reason once the caller's outcome is this
    /// device's reject.
    @discardableResult
    public func onRejected(_ handler: @escaping @Sendable (RejectReason) -> Void) -> IncomingInvite {
        onEvent { if case .rejected(let reason) = $0 { handler(reason) } }
    }

    /// Calls `handler` with the reason when the invite stops ringing here
    /// because the caller canceled or another device answered.
    @discardableResult
    public func onCanceled(_ handler: @escaping @Sendable (CancelReason) -> Void) -> IncomingInvite {
        onEvent { if case .canceled(let reason) = $0 { handler(reason) } }
    }

    /// Calls `handler` with the reason when the invite fails here.
    @discardableResult
    public func onFailed(_ handler: @escaping @Sendable (FailureReason) -> Void) -> IncomingInvite {
        onEvent { if case .failed(let reason) = $0 { handler(reason) } }
    }

    /// The outcome as a stream of one event (it finishes after it).
    public var events: AsyncStream<Event> { hub.stream() }
}

/// A weak reference, for the table of live incoming invites.
private struct WeakIncomingInvite {
    weak var value: IncomingInvite?
    init(_ value: IncomingInvite) { self.value = value }
}

/// The first of: the server confirmed the invite, or the invite ended
/// unconfirmed.
enum Confirmation: Sendable {
    /// The invite still rings (or came over the connection).
    case confirmed
    /// The invite ended before it was confirmed.
    case ended(IncomingInvite.Event)
}

/// The hub of an incoming invite: its outcome, its conversation, and
/// whether it was confirmed.
final class IncomingHub: InviteHub<IncomingInvite.Event>, @unchecked Sendable {
    // @unchecked Sendable: `settled` is guarded by `lock`.
    /// The first ``Confirmation``, once.
    let confirmation = EventHub<Confirmation>(policy: .all, isTerminal: { _ in true })
    private var settled = false

    /// Publishes `step` to ``confirmation`` if nothing was published yet.
    func settleConfirmation(_ step: Confirmation) {
        lock.lock()
        let first = !settled
        settled = true
        lock.unlock()
        if first { confirmation.publish(step) }
    }

    /// No event can come any more: the confirmation's streams end too.
    override func didRelease() {
        super.didRelease()
        confirmation.didRelease()
    }
}

private let incomingInviteCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<wd_incoming_event>?) -> Void = { userData, invite, event in
    guard let userData, let invite, let event else { return }
    let hub = IncomingHub.from(userData)
    let raw = event.pointee
    switch IncomingEventKind(rawValue: raw.kind) {
    case .accepted:
        let conversation = hub.conversation { () -> OpaquePointer? in
            var conversation: OpaquePointer?
            return wd_incoming_invite_conversation(invite, &conversation) == WD_RESULT_OK.rawValue ? conversation : nil
        }
        if let conversation { hub.outcome(.accepted(conversation)) }
    case .rejected:
        hub.outcome(.rejected(RejectReason(rawValue: raw.reject_reason) ?? .declined))
    case .canceled:
        hub.outcome(.canceled(CancelReason(rawValue: raw.cancel_reason) ?? .callerCanceled))
    case .failed:
        hub.outcome(.failed(FailureReason(rawValue: raw.failure_reason) ?? .serverError))
    case .confirmed:
        hub.settleConfirmation(.confirmed)
    case nil:
        break  // a kind newer than this wrapper
    }
}

extension IncomingHub {
    /// The invite's outcome: to its listeners, and to those waiting for a
    /// confirmation that will not come.
    fileprivate func outcome(_ event: IncomingInvite.Event) {
        publish(event)
        settleConfirmation(.ended(event))
    }
}
