package com.wilddog.video

/** A device in a conversation. */
data class Participant(
    /** The user's id. */
    val uid: String,
    /** The device's id. */
    val device: String,
)

/**
 * A conversation this device is in (`Conversation` in `wilddog.video`), from
 * [OutgoingInvite.conversation] or [IncomingInvite.conversation].
 *
 * Closing frees the handle; it does not leave the conversation: call
 * [disconnect]. Each `on…` call adds a listener; one added after its event still
 * hears it, once (messages: see [onMessage]).
 */
class Conversation internal constructor(
    id: Long,
    private val dispatcher: Dispatcher,
) : WilddogHandle(id, "Conversation", NativeLib::conversationFree) {

    /** The conversation's id, the same on every participant. */
    val conversationId: String

    /** The media mode. */
    val mode: Mode

    private val core = ConversationCore(EventHub(dispatcher), EventHub(dispatcher, replay = false))

    init {
        conversationId = closeOnFailure { handle.use { NativeLib.conversationId(it) } }
        mode = closeOnFailure { Mode.of(handle.use { NativeLib.conversationMode(it) }) }
        closeOnFailure { handle.use { NativeLib.conversationSetSink(it, core) } }
    }

    /** The other devices in the conversation. */
    val participants: List<Participant>
        get() = handle.use { NativeLib.conversationParticipants(it) }
            .toList()
            .chunked(2) { (uid, device) -> Participant(uid, device) }

    /** Whether this device is still in the conversation. */
    val isConnected: Boolean get() = handle.use { NativeLib.conversationIsConnected(it) }

    /**
     * Leaves: the others are told, and `disconnected` fires once.
     *
     * @throws InvalidStateException if already disconnected.
     */
    fun disconnect() = handle.use { NativeLib.conversationDisconnect(it) }

    /**
     * Relays [payload] (text of up to 65 536 bytes, e.g. an ICE candidate as JSON)
     * to every device of participant [to], or to every participant when [to] is
     * null. Each receiving device hears it through [onMessage], with this device as
     * the sender; messages from one device arrive in the order sent.
     *
     * @throws InvalidArgumentException naming `payload` (too long, or holding a
     *   NUL) or `to` (not a participant); the conversation stays usable.
     * @throws InvalidStateException once this device is out of the conversation.
     * @throws NotConnectedException when the connection is gone.
     */
    @JvmOverloads
    fun send(payload: String, to: String? = null) = handle.use { NativeLib.conversationSend(it, to, payload) }

    /**
     * Invites [participantId] into this conversation (`Conversation.invite`), in its
     * mode. Once accepted, the new device is a participant here, every participant
     * hears [onParticipantConnected], and the invite's
     * [OutgoingInvite.conversation] is this same object (a new one if this one was
     * closed by then). If this device leaves first, the invite is canceled.
     *
     * @throws InvalidArgumentException naming the bad option (`participantId` also
     *   when that user is already a participant).
     * @throws InvalidStateException once this device is out of the conversation.
     * @throws NotConnectedException when the connection is gone.
     */
    @JvmOverloads
    fun invite(
        participantId: String,
        userData: String? = null,
        offer: String? = null,
        lifetimeMs: Long = 60_000,
    ): OutgoingInvite {
        val id = handle.use { NativeLib.conversationInvite(it, participantId, userData, offer, lifetimeMs) }
        return OutgoingInvite(id, dispatcher, into = this)
    }

    /** Adds a listener for a device joining after this device's conversation started. */
    fun onParticipantConnected(listener: (Participant) -> Unit): Conversation = apply {
        core.hub.listen { if (it is Joined) listener(it.participant) }
    }

    /**
     * Adds a listener for a participant that is no longer in the conversation, with
     * why: it left ([ParticipantLeftReason.LEFT]) or its connection to the server
     * ended without it leaving ([ParticipantLeftReason.CONNECTION_LOST]). Fires once
     * per participant device.
     */
    fun onParticipantDisconnected(listener: (participant: Participant, reason: ParticipantLeftReason) -> Unit): Conversation = apply {
        core.hub.listen { if (it is Left) listener(it.participant, it.reason) }
    }

    /**
     * Adds a listener for messages sent to this device ([send] on another device),
     * with their sender. Messages that arrived before the first message listener
     * was added are handed to it, in order; a listener added later hears only the
     * messages that follow (messages are not kept).
     */
    fun onMessage(listener: (from: Participant, payload: String) -> Unit): Conversation = apply {
        core.messages.listen { listener(it.from, it.payload) }
    }

    /** Adds a listener for `disconnected` (this device is no longer in it; fires once, last). */
    fun onDisconnected(listener: () -> Unit): Conversation = apply {
        core.hub.listen { if (it === Disconnected) listener() }
    }

    /** `"Conversation(conversationId=…)"`. */
    override fun toString(): String = "Conversation(conversationId=$conversationId)"
}

/** Marks the `disconnected` event in a conversation's event history. */
internal object Disconnected

/** A `participant_connected` event. */
internal class Joined(val participant: Participant)

/** A `participant_disconnected` event. */
internal class Left(val participant: Participant, val reason: ParticipantLeftReason)

/** A message to this device. */
internal class Message(val from: Participant, val payload: String)

/** Listener state and glue sink of a [Conversation]; never references it. */
internal class ConversationCore(val hub: EventHub<Any>, val messages: EventHub<Message>) {
    /** Called by the glue on the SDK's event thread. */
    @Suppress("unused")
    fun onEvent(kind: Int, uid: String?, device: String?, payload: String?, leftReason: Int) {
        val participant = Participant(uid ?: "", device ?: "")
        when (ConversationEventKind.of(kind)) {
            ConversationEventKind.PARTICIPANT_CONNECTED -> hub.emit(Joined(participant))
            // The glue always passes LEFT or CONNECTION_LOST with this kind.
            ConversationEventKind.PARTICIPANT_DISCONNECTED ->
                hub.emit(Left(participant, ParticipantLeftReason.of(leftReason) ?: ParticipantLeftReason.LEFT))
            ConversationEventKind.MESSAGE -> messages.emit(Message(participant, payload ?: ""))
            ConversationEventKind.DISCONNECTED -> hub.emit(Disconnected)
            null -> {}
        }
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
