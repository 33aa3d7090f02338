package com.wilddog.video

import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/** A device in a conversation. */
data class Participant(
    /** The user's id. */
    val uid: String,
    /** The device's id. */
    val device: String,
)

/** A message sent to this device in a conversation, with its sender. */
data class Message(
    /** The device that sent it. */
    val from: Participant,
    /** Its text (up to 64 KiB). */
    val payload: String,
)

/**
 * A conversation this device is in (`Conversation` in `wilddog.video`), from
 * [OutgoingInvite.conversation] or [IncomingInvite.conversation].
 *
 * Closing frees the handle and removes its listeners; it does not leave the
 * conversation: call [disconnect]. Each `on…` call adds a listener and returns
 * its [Subscription]; with listeners, the conversation stays alive until
 * `disconnected` even if the app keeps no reference to it. What a listener added
 * late hears: `disconnected` once if it happened; participant events and messages
 * that no listener of their kind heard yet, in order (they are not kept once
 * heard).
 */
class Conversation internal constructor(
    id: Long,
    /** The client the conversation runs on (kept alive by it). */
    internal val client: WilddogVideoClient,
) : WilddogHandle(id, "Conversation", NativeLib::conversationFree) {

    private val core = ConversationCore(this, handle, client.dispatcher)

    /** The conversation's id, the same on every participant. */
    val conversationId: String = closeOnFailure { handle.use { NativeLib.conversationId(it) } }

    /** The media mode. */
    val mode: Mode = closeOnFailure { Mode.of(handle.use { NativeLib.conversationMode(it) }) }

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
     * @param lifetime how long it may ring (1 ms to 1 hour).
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
        lifetime: Duration = 60.seconds,
    ): OutgoingInvite {
        val id = handle.use {
            NativeLib.conversationInvite(it, participantId, userData, offer, lifetime.inWholeMilliseconds)
        }
        return OutgoingInvite(id, client, into = this)
    }

    /** Adds a listener for a device joining after this device's conversation started. */
    fun onParticipantConnected(listener: Listener<Participant>): Subscription = core.joined.listen(listener::onEvent)

    /**
     * Adds a listener for a participant that is no longer in the conversation, with
     * why: it left ([ParticipantLeftReason.LEFT]) or its connection to the server
     * ended without it leaving ([ParticipantLeftReason.CONNECTION_LOST]). Fires once
     * per participant device.
     */
    fun onParticipantDisconnected(listener: ParticipantLeftListener): Subscription =
        core.left.listen { listener.onParticipantLeft(it.first, it.second) }

    /**
     * Adds a listener for messages sent to this device ([send] on another device),
     * with their sender. Messages that no message listener heard yet (they arrived
     * before the first, or while there was none) go to the next one added, in
     * order; the others hear only what follows.
     */
    fun onMessage(listener: MessageListener): Subscription =
        core.messages.listen { listener.onMessage(it.from, it.payload) }

    /** Adds a listener for `disconnected` (this device is no longer in it; fires once, last). */
    fun onDisconnected(listener: EventCallback): Subscription = core.disconnected.listen { listener.onEvent() }

    /** Whether the glue holds this conversation's sink now (tests). */
    internal val isKeptAlive: Boolean get() = core.group.isInstalled

    override fun beforeClose() = core.group.closing()

    /** `"Conversation(conversationId=…)"`. */
    override fun toString(): String = "Conversation(conversationId=$conversationId)"
}

/**
 * Listener state and glue sink of a [Conversation]. It references the
 * conversation, so while the glue holds it (while the conversation has listeners
 * and this device is in it) the conversation stays reachable.
 */
internal class ConversationCore(
    /** Only kept: what the glue's reference to this object keeps alive. */
    @Suppress("unused") private val conversation: Conversation,
    handle: NativeHandle,
    dispatcher: Dispatcher,
) {
    val group = SinkGroup(dispatcher, handle) { id, install ->
        NativeLib.conversationSetSink(id, if (install) this else null)
    }
    val joined = EventHub<Participant>(group, Replay.STREAM)
    val left = EventHub<Pair<Participant, ParticipantLeftReason>>(group, Replay.STREAM)
    val messages = EventHub<Message>(group, Replay.STREAM)
    val disconnected = EventHub<Unit>(group, Replay.STICKY)

    /** Called by the glue on the SDK's thread. */
    fun onEvent(kind: Int, uid: String?, device: String?, payload: String?, leftReason: Int) {
        val participant = Participant(uid ?: "", device ?: "")
        when (ConversationEventKind.of(kind)) {
            ConversationEventKind.PARTICIPANT_CONNECTED -> joined.emit(participant)
            // The glue always passes LEFT or CONNECTION_LOST with this kind.
            ConversationEventKind.PARTICIPANT_DISCONNECTED ->
                left.emit(participant to (ParticipantLeftReason.of(leftReason) ?: ParticipantLeftReason.LEFT))
            ConversationEventKind.MESSAGE -> messages.emit(Message(participant, payload ?: ""))
            ConversationEventKind.DISCONNECTED -> {
                disconnected.emit(Unit)
                group.finish()
            }
            null -> {}
        }
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
