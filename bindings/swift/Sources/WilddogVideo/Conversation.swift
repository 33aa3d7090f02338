import CWilddogVideo
import Foundation

/// A device in a conversation.
public struct Participant: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The participant's user id.
    public let uid: String
    /// The participant's device (connection) id.
    public let device: String

    /// A participant with the given ids.
    public init(uid: String, device: String) {
        self.uid = uid
        self.device = device
    }

    /// `uid/device`.
    public var description: String { "\(uid)/\(device)" }
}

/// A conversation this client takes part in (`Conversation`), from an
/// accepted invite. Relays messages (ICE candidates, SDP, anything) between
/// its participants and reports who joins and leaves.
///
/// There is one object per conversation: every accepted invite into it
/// gives this same object. Dropping the last reference frees the handle; it
/// never leaves the conversation (call ``disconnect()``).
///
/// `@unchecked Sendable`: the handle is immutable and its C functions may be
/// called from any thread; the hub guards its own state with a lock.
public final class Conversation: @unchecked Sendable {
    /// An event of the conversation.
    public enum Event: Sendable, Equatable {
        /// A device joined (it accepted an invite into the conversation).
        case participantConnected(Participant)
        /// A device is no longer in the conversation: it left
        /// (``ParticipantLeftReason/left``), or its connection to the server
        /// ended without it leaving (``ParticipantLeftReason/connectionLost``).
        case participantDisconnected(Participant, reason: ParticipantLeftReason)
        /// A participant sent this device a message.
        case message(from: Participant, payload: String)
        /// This device is no longer in the conversation (it left, everyone else
        /// left, or the connection was lost). Fires once, last.
        case disconnected
    }

    let handle: OpaquePointer
    let hub: EventHub<Event>

    /// The conversation's id, shared by every participant.
    public let id: String
    /// How the conversation carries media.
    public let mode: Mode

    private init(owning handle: OpaquePointer) {
        self.handle = handle
        self.id = ownedString { wd_conversation_id(handle, $0) } ?? ""
        self.mode = enumValue { wd_conversation_mode(handle, $0) } ?? .p2p
        self.hub = EventHub(policy: .bufferUntilFirstListener, isTerminal: { $0 == .disconnected })
        let box = hub.retainedForC()
        if wd_conversation_set_callback(handle, conversationCallback, box, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(box).release()
        }
    }

    /// The one live wrapper of each C conversation, by pointer (the library
    /// hands out equal pointers for the same conversation).
    private static let live = Locked<[UnsafeMutableRawPointer: WeakConversation]>([:])

    /// The wrapper of `pointer` (a new reference the caller hands over): the
    /// live one if there is one (the extra reference is freed), else a new one.
    static func wrap(owning pointer: OpaquePointer) -> Conversation {
        let key = UnsafeMutableRawPointer(pointer)
        var extra: OpaquePointer?
        let conversation = live.withLock { table -> Conversation in
            if let existing = table[key]?.value {
                extra = pointer
                return existing
            }
            let created = Conversation(owning: pointer)
            table[key] = WeakConversation(created)
            return created
        }
        if let extra { wd_conversation_free(extra) }
        return conversation
    }

    /// Frees the handle (`wd_conversation_free`); it never leaves.
    deinit {
        let key = UnsafeMutableRawPointer(handle)
        Conversation.live.withLock { table in
            if table[key]?.value == nil { table[key] = nil }
        }
        wd_conversation_free(handle)
    }

    /// The other participants (every device in the conversation but this one).
    public var participants: [Participant] {
        guard let json = try? copyOut({ wd_conversation_participants(handle, $0, $1, $2) }) else { return [] }
        return (try? JSONDecoder().decode([Participant].self, from: Data(json.utf8))) ?? []
    }

    /// Whether this device is still in the conversation.
    public var isConnected: Bool {
        var connected = false
        _ = wd_conversation_is_connected(handle, &connected)
        return connected
    }

    /// Relays `payload` (text of at most 64 KiB) to every device of
    /// participant `to`, or to every participant when `to` is `nil`. Messages
    /// from one device arrive in the order sent.
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` (payload too long,
    ///   `to` not a participant; nothing changes), `.invalidState` once this
    ///   device left, or `.notConnected`.
    public func send(_ payload: String, to participantId: String? = nil) throws(WilddogError) {
        try withOptionalCString(participantId, field: "to") { (to) throws(WilddogError) in
            try withOptionalCString(payload, field: "payload") { (payload) throws(WilddogError) in
                try check(wd_conversation_send(handle, to, payload))
            }
        }
    }

    /// Invites a user into this conversation. Once accepted, every
    /// participant hears ``Event/participantConnected(_:)`` and the invite's
    /// ``OutgoingInvite/conversation`` is this object. `options.mode` is
    /// ignored (the conversation's mode applies).
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` (a bad option, or
    ///   the user is already in the conversation), `.invalidState` (this
    ///   device left) or `.notConnected`.
    public func invite(participantId: String, options: InviteOptions = InviteOptions()) throws(WilddogError) -> OutgoingInvite {
        let json = try options.json(participantId: participantId)
        var invite: OpaquePointer?
        try withOptionalCString(json, field: "participantId") { (text) throws(WilddogError) in
            try check(wd_conversation_invite(handle, text, &invite))
        }
        return OutgoingInvite(owning: invite!)
    }

    /// Leaves the conversation: the others are told, and
    /// ``Event/disconnected`` fires once.
    ///
    /// - Throws: ``WilddogError`` with `.invalidState` if this device is
    ///   already out of it.
    public func disconnect() throws(WilddogError) {
        try check(wd_conversation_disconnect(handle))
    }

    /// Calls `handler` with every event, on the client's event thread.
    /// Events that arrived before the first closure or stream was added are
    /// handed to it; a later one hears only what follows (and
    /// ``Event/disconnected`` if it already happened). Returns the
    /// conversation, to chain calls.
    @discardableResult
    public func onEvent(_ handler: @escaping @Sendable (Event) -> Void) -> Conversation {
        hub.add(handler)
        return self
    }

    /// Calls `handler` with the sender and text of every message.
    @discardableResult
    public func onMessage(_ handler: @escaping @Sendable (_ from: Participant, _ payload: String) -> Void) -> Conversation {
        onEvent { if case .message(let from, let payload) = $0 { handler(from, payload) } }
    }

    /// Calls `handler` when a device joins.
    @discardableResult
    public func onParticipantConnected(_ handler: @escaping @Sendable (Participant) -> Void) -> Conversation {
        onEvent { if case .participantConnected(let participant) = $0 { handler(participant) } }
    }

    /// Calls `handler` when a device is no longer in the conversation, with
    /// why (it left, or its connection was lost).
    @discardableResult
    public func onParticipantDisconnected(_ handler: @escaping @Sendable (_ participant: Participant, _ reason: ParticipantLeftReason) -> Void) -> Conversation {
        onEvent { if case .participantDisconnected(let participant, let reason) = $0 { handler(participant, reason) } }
    }

    /// Calls `handler` once when this device is out of the conversation.
    @discardableResult
    public func onDisconnected(_ handler: @escaping @Sendable () -> Void) -> Conversation {
        onEvent { if case .disconnected = $0 { handler() } }
    }

    /// The events as a stream; it finishes after ``Event/disconnected``.
    public var events: AsyncStream<Event> { hub.stream() }
}

/// A weak reference, for the table of live conversations.
private struct WeakConversation {
    weak var value: Conversation?
    init(_ value: Conversation) { self.value = value }
}

private let conversationCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<wd_conversation_event>?) -> Void = { userData, _, event in
    guard let userData, let event else { return }
    let hub = EventHub<Conversation.Event>.from(userData)
    let raw = event.pointee
    func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
    let participant = Participant(uid: text(raw.participant_uid), device: text(raw.participant_device))
    switch ConversationEventKind(rawValue: raw.kind) {
    case .participantConnected: hub.publish(.participantConnected(participant))
    case .participantDisconnected:
        // The library always sets LEFT or CONNECTION_LOST with this kind.
        let reason = ParticipantLeftReason(rawValue: raw.participant_left_reason) ?? .left
        hub.publish(.participantDisconnected(participant, reason: reason))
    case .message: hub.publish(.message(from: participant, payload: text(raw.payload)))
    case .disconnected: hub.publish(.disconnected)
    case nil: break  // a kind newer than this wrapper
    }
}
