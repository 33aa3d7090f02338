import CWilddogVideo

// Every enum here carries the numeric value of the matching `WD_*` constant
// of include/wilddog_video.h as its raw value. The test `headerEnumsHaveSwiftCounterparts`
// (run by run-tests.sh, so by `make test`) fails when a constant of the
// header has no Swift case or a different value. A header `*_NONE = 0` is
// `nil` in Swift, and `WD_RESULT_OK` is no error.

/// How a conversation carries media (`wd_mode`).
public enum Mode: UInt32, Sendable, CaseIterable {
    /// Media flows directly between the participants (`"p2p"`, the default).
    case p2p = 0
    /// Media flows through a media server (`"server"`).
    case server = 1

    /// The option's text in the library's JSON (`"p2p"` or `"server"`).
    var jsonName: String { self == .p2p ? "p2p" : "server" }
}

/// State of a client's connection to the server (`wd_connection_state`).
public enum ConnectionState: UInt32, Sendable, CaseIterable {
    /// Connecting for the first time.
    case connecting = 0
    /// Connected and authenticated.
    case connected = 1
    /// The connection was lost; the client is trying again.
    case reconnecting = 2
    /// Not connected and not trying (after `disconnect()`, or when the
    /// client gave up). Final.
    case disconnected = 3
}

/// Status of an ``OutgoingInvite`` (`wd_outgoing_status`).
public enum OutgoingStatus: UInt32, Sendable, CaseIterable {
    /// Ringing; no outcome yet.
    case pending = 0
    /// A device of the invitee accepted; the conversation exists.
    case accepted = 1
    /// A device of the invitee rejected.
    case rejected = 2
    /// This client canceled (or lost a glare).
    case canceled = 3
    /// The invite failed; see ``OutgoingInvite/failureReason``.
    case failed = 4
}

/// Status of an ``IncomingInvite`` (`wd_incoming_status`).
public enum IncomingStatus: UInt32, Sendable, CaseIterable {
    /// Ringing here; not answered yet.
    case pending = 0
    /// Accepted here; waiting for the caller to confirm.
    case accepting = 1
    /// The caller confirmed this device's accept; the conversation exists.
    case accepted = 2
    /// The caller's outcome is this device's reject.
    case rejected = 3
    /// The caller canceled, or another device answered first.
    case canceled = 4
    /// The invite failed; see ``IncomingInvite/failureReason``.
    case failed = 5
    /// Rejected here; waiting for the caller's outcome (``rejected``, or
    /// ``canceled`` when the caller decided otherwise first).
    case rejecting = 6
}

/// Why an invite failed (`wd_failure_reason`; `NONE` is `nil`).
public enum FailureReason: UInt32, Sendable, CaseIterable {
    /// No device of the invitee is online.
    case offline = 1
    /// Nobody answered within the invite's lifetime.
    case timeout = 2
    /// This client lost its connection to the server.
    case network = 3
    /// The server refused this client's credentials.
    case unauthorized = 4
    /// The invitee is unknown, malformed, or the caller itself.
    case invalidParticipant = 5
    /// The caller sent too many invites.
    case rateLimited = 6
    /// Invitee side: the caller never confirmed the accept.
    case confirmTimeout = 7
    /// Invitee side: the caller's connection went away.
    case callerGone = 8
    /// The server could not handle the invite.
    case serverError = 9
}

/// Why an invitee rejected (`wd_reject_reason`; `NONE` is `nil`).
public enum RejectReason: UInt32, Sendable, CaseIterable {
    /// The invitee declined.
    case declined = 1
    /// The invitee is busy in another call.
    case busy = 2
}

/// Why an invite was canceled (`wd_cancel_reason`; `NONE` is `nil`).
public enum CancelReason: UInt32, Sendable, CaseIterable {
    /// The caller canceled the invite.
    case callerCanceled = 1
    /// Another device of the invitee accepted or rejected it first.
    case answeredElsewhere = 2
    /// Caller and invitee invited each other at once and this invite lost.
    case glare = 3
}

/// Why a participant is no longer in a conversation
/// (`wd_participant_left_reason`; `NONE` is never passed on).
public enum ParticipantLeftReason: UInt32, Sendable, CaseIterable {
    /// The participant left (``Conversation/disconnect()`` on its device).
    case left = 1
    /// The participant's connection to the server ended without it leaving
    /// (network lost, app killed, client closed); the server announced it
    /// gone.
    case connectionLost = 2
}

/// Severity of a log message of the library (`wd_log_level`); higher is
/// more verbose.
public enum LogLevel: UInt32, Sendable, CaseIterable, Comparable {
    /// Something failed.
    case error = 1
    /// Something unexpected that the library handled.
    case warn = 2
    /// Milestones: connected, disconnected and why.
    case info = 3
    /// Detail for debugging.
    case debug = 4
    /// Everything, including per-frame detail.
    case trace = 5

    /// Orders by verbosity.
    public static func < (lhs: LogLevel, rhs: LogLevel) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Kinds of `wd_outgoing_event` (internal: Swift has ``OutgoingInvite/Event``).
enum OutgoingEventKind: UInt32, CaseIterable {
    case ringing = 0, accepted = 1, rejected = 2, canceled = 3, failed = 4
}

/// Kinds of `wd_incoming_event` (internal: Swift has ``IncomingInvite/Event``).
enum IncomingEventKind: UInt32, CaseIterable {
    case accepted = 0, rejected = 1, canceled = 2, failed = 3, confirmed = 4
}

/// Kinds of `wd_push_event` (internal: Swift has ``PushEvent``).
enum PushEventKind: UInt32, CaseIterable {
    case registered = 0, registrationFailed = 1, unregistered = 2, rejected = 3
}

/// Kinds of `wd_conversation_event` (internal: Swift has ``Conversation/Event``).
enum ConversationEventKind: UInt32, CaseIterable {
    case participantDisconnected = 0, disconnected = 1, participantConnected = 2, message = 3
}

/// How a Swift enum maps onto a `wd_*` enum of the header; the drift test
/// walks these.
struct HeaderEnumMapping: Sendable {
    /// The C enum's name, e.g. `wd_failure_reason`.
    let cName: String
    /// Constant suffix (after `WD_<ENUM>_`) to value, for every Swift case.
    let values: [String: UInt32]
    /// Header constants with no Swift case on purpose (`NONE`, `OK`).
    let implicit: [String: UInt32]
}

/// `invalidParticipant` → `INVALID_PARTICIPANT`.
func screamingSnake(_ name: String) -> String {
    var out = ""
    for ch in name {
        if ch.isUppercase { out += "_" }
        out += ch.uppercased()
    }
    return out
}

func mapping<E: CaseIterable & RawRepresentable>(_ cName: String, _: E.Type, implicit: [String: UInt32] = [:], rename: [String: String] = [:]) -> HeaderEnumMapping where E.RawValue == UInt32 {
    var values: [String: UInt32] = [:]
    for value in E.allCases {
        let swiftName = String(describing: value)
        values[rename[swiftName] ?? screamingSnake(swiftName)] = value.rawValue
    }
    return HeaderEnumMapping(cName: cName, values: values, implicit: implicit)
}

/// Every `wd_*` enum of the header and its Swift counterpart.
let headerEnumMappings: [HeaderEnumMapping] = [
    mapping("wd_result", WilddogError.Code.self, implicit: ["OK": 0], rename: ["protocolError": "PROTOCOL"]),
    mapping("wd_connection_state", ConnectionState.self),
    mapping("wd_mode", Mode.self),
    mapping("wd_conversation_event_kind", ConversationEventKind.self),
    mapping("wd_incoming_status", IncomingStatus.self),
    mapping("wd_failure_reason", FailureReason.self, implicit: ["NONE": 0]),
    mapping("wd_cancel_reason", CancelReason.self, implicit: ["NONE": 0]),
    mapping("wd_participant_left_reason", ParticipantLeftReason.self, implicit: ["NONE": 0]),
    mapping("wd_incoming_event_kind", IncomingEventKind.self),
    mapping("wd_reject_reason", RejectReason.self, implicit: ["NONE": 0]),
    mapping("wd_log_level", LogLevel.self),
    mapping("wd_outgoing_status", OutgoingStatus.self),
    mapping("wd_outgoing_event_kind", OutgoingEventKind.self),
    mapping("wd_push_event_kind", PushEventKind.self),
]
