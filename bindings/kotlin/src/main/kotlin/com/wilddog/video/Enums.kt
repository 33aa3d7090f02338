package com.wilddog.video

// Every enum here carries, internally, the numeric value of the matching
// `WD_*` constant in include/wilddog_video.h (what the JNI glue passes). The
// test `header enums match the Kotlin enums` (run by run-tests.sh) fails when
// a name or a value drifts. A header `*_NONE = 0` value has no Kotlin
// constant: "none" is `null`.

/** Media mode of an invite and its conversation (`wd_mode`). */
enum class Mode(
    /** The `WD_MODE_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** Peer to peer (the default). */
    P2P(0),

    /** Through a media server. */
    SERVER(1),
    ;

    internal companion object {
        fun of(value: Int): Mode = entries.first { it.value == value }
    }
}

/** The client's link to the server (`wd_connection_state`). */
enum class ConnectionState(
    /** The `WD_CONNECTION_STATE_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** Opening the connection. */
    CONNECTING(0),

    /** Connected and authenticated. */
    CONNECTED(1),

    /** Lost the connection; trying again. */
    RECONNECTING(2),

    /** Not connected, and not trying. */
    DISCONNECTED(3),
    ;

    internal companion object {
        fun of(value: Int): ConnectionState = entries.first { it.value == value }
    }
}

/** Status of an [OutgoingInvite] (`wd_outgoing_status`). */
enum class OutgoingStatus(
    /** The `WD_OUTGOING_STATUS_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** Ringing; no outcome yet. */
    PENDING(0),

    /** A device of the invitee accepted; the conversation exists. */
    ACCEPTED(1),

    /** A device of the invitee rejected. */
    REJECTED(2),

    /** This client canceled. */
    CANCELED(3),

    /** The invite failed; see [OutgoingInvite.failureReason]. */
    FAILED(4),
    ;

    internal companion object {
        fun of(value: Int): OutgoingStatus = entries.first { it.value == value }
    }
}

/** Whether this status is an outcome (no later status follows). */
internal val OutgoingStatus.isFinal: Boolean get() = this != OutgoingStatus.PENDING

/** The `wilddog.video` name of [OutgoingStatus]. */
typealias InviteStatus = OutgoingStatus

/** Status of an [IncomingInvite] (`wd_incoming_status`). */
enum class IncomingStatus(
    /** The `WD_INCOMING_STATUS_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** Ringing here; no answer yet. */
    PENDING(0),

    /** This device accepted; waiting for the caller to confirm. */
    ACCEPTING(1),

    /** The caller confirmed; the conversation exists. */
    ACCEPTED(2),

    /** The caller's outcome is this device's reject. */
    REJECTED(3),

    /** The caller canceled, or another device of this user answered. */
    CANCELED(4),

    /** The invite failed here; see [IncomingInvite.failureReason]. */
    FAILED(5),

    /** This device rejected; waiting for the caller's outcome (`REJECTED`, or `CANCELED`). */
    REJECTING(6),
    ;

    internal companion object {
        fun of(value: Int): IncomingStatus = entries.first { it.value == value }
    }
}

/** Whether this status is an outcome (no later status follows). */
internal val IncomingStatus.isFinal: Boolean
    get() = when (this) {
        IncomingStatus.PENDING, IncomingStatus.ACCEPTING, IncomingStatus.REJECTING -> false
        else -> true
    }

/** Why an invite failed (`wd_failure_reason`; its `NONE` is `null` here). */
enum class FailureReason(
    /** The `WD_FAILURE_REASON_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** No device of the invitee is online. */
    OFFLINE(1),

    /** Nobody answered within the invite's lifetime. */
    TIMEOUT(2),

    /** This client lost the server. */
    NETWORK(3),

    /** The server refused this client. */
    UNAUTHORIZED(4),

    /** The invitee is unknown, malformed, or this user. */
    INVALID_PARTICIPANT(5),

    /** Too many invites; try again later. */
    RATE_LIMITED(6),

    /** Invitee side: the caller never confirmed this device's accept. */
    CONFIRM_TIMEOUT(7),

    /** Invitee side: the caller's connection went away. */
    CALLER_GONE(8),

    /** The server failed. */
    SERVER_ERROR(9),
    ;

    internal companion object {
        /** `null` for `WD_FAILURE_REASON_NONE` (0). */
        fun of(value: Int): FailureReason? = entries.firstOrNull { it.value == value }
    }
}

/** Why an invitee rejected (`wd_reject_reason`; its `NONE` is `null` here). */
enum class RejectReason(
    /** The `WD_REJECT_REASON_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** The invitee declined. */
    DECLINED(1),

    /** The invitee is busy in another call. */
    BUSY(2),
    ;

    internal companion object {
        /** `null` for `WD_REJECT_REASON_NONE` (0). */
        fun of(value: Int): RejectReason? = entries.firstOrNull { it.value == value }
    }
}

/** Why an invite was canceled (`wd_cancel_reason`; `NONE` is `null`). */
enum class CancelReason(
    /** The `WD_CANCEL_REASON_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** The caller canceled. */
    CALLER_CANCELED(1),

    /** Another device of this user answered first. */
    ANSWERED_ELSEWHERE(2),

    /**
     * Caller and invitee invited each other at the same time and this invite lost
     * (of two crossing invites, the one with the greater invite id ends canceled on
     * both sides). Also the reason of an [OutgoingInvite] canceled that way.
     */
    GLARE(3),
    ;

    internal companion object {
        /** `null` for `WD_CANCEL_REASON_NONE` (0). */
        fun of(value: Int): CancelReason? = entries.firstOrNull { it.value == value }
    }
}

/**
 * Why a participant is no longer in a conversation (`wd_participant_left_reason`;
 * `NONE` is never passed to a listener).
 */
enum class ParticipantLeftReason(
    /** The `WD_PARTICIPANT_LEFT_REASON_*` value of the C header (internal: the C numbers are not API). */
    internal val value: Int,
) {
    /** The participant left ([Conversation.disconnect] on its device). */
    LEFT(1),

    /**
     * The participant's connection to the server ended without it leaving (network
     * lost, app killed, client closed); the server announced it gone.
     */
    CONNECTION_LOST(2),
    ;

    internal companion object {
        /** `null` for `WD_PARTICIPANT_LEFT_REASON_NONE` (0). */
        fun of(value: Int): ParticipantLeftReason? = entries.firstOrNull { it.value == value }
    }
}

/** Event kinds the glue passes to an outgoing sink (`wd_outgoing_event_kind`). */
internal enum class OutgoingEventKind(val value: Int) {
    RINGING(0),
    ACCEPTED(1),
    REJECTED(2),
    CANCELED(3),
    FAILED(4),
    ;

    companion object {
        fun of(value: Int): OutgoingEventKind = entries.first { it.value == value }
    }
}

/** Event kinds the glue passes to an incoming sink (`wd_incoming_event_kind`). */
internal enum class IncomingEventKind(val value: Int) {
    ACCEPTED(0),
    REJECTED(1),
    CANCELED(2),
    FAILED(3),

    /** Not an outcome: the server confirmed that an invite known from a push still rings. */
    CONFIRMED(4),
    ;

    companion object {
        fun of(value: Int): IncomingEventKind = entries.first { it.value == value }
    }
}

/** Event kinds the glue passes to a conversation sink (`wd_conversation_event_kind`). */
internal enum class ConversationEventKind(val value: Int) {
    PARTICIPANT_DISCONNECTED(0),
    DISCONNECTED(1),
    PARTICIPANT_CONNECTED(2),
    MESSAGE(3),
    ;

    companion object {
        fun of(value: Int): ConversationEventKind? = entries.firstOrNull { it.value == value }
    }
}

/** Event kinds the glue passes to a client's push sink (`wd_push_event_kind`). */
internal enum class PushEventKind(val value: Int) {
    REGISTERED(0),
    REGISTRATION_FAILED(1),
    UNREGISTERED(2),
    REJECTED(3),
    ;

    companion object {
        fun of(value: Int): PushEventKind? = entries.firstOrNull { it.value == value }
    }
}
