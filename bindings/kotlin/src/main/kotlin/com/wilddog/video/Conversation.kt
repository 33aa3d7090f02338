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
 * hears it, once.
 */
class Conversation internal constructor(
    id: Long,
    dispatcher: Dispatcher,
) : WilddogHandle(id, "Conversation", NativeLib::conversationFree) {

    /** The conversation's id, the same on every participant. */
    val conversationId: String

    /** The media mode. */
    val mode: Mode

    private val core = ConversationCore(EventHub(dispatcher))

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

    /** Adds a listener for a participant leaving. */
    fun onParticipantDisconnected(listener: (Participant) -> Unit): Conversation = apply {
        core.hub.listen { if (it is Participant) listener(it) }
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

/** Listener state and glue sink of a [Conversation]; never references it. */
internal class ConversationCore(val hub: EventHub<Any>) {
    /** Called by the glue on the SDK's event thread. */
    @Suppress("unused")
    fun onEvent(kind: Int, uid: String?, device: String?) {
        when (ConversationEventKind.of(kind)) {
            ConversationEventKind.PARTICIPANT_DISCONNECTED -> hub.emit(Participant(uid ?: "", device ?: ""))
            ConversationEventKind.DISCONNECTED -> hub.emit(Disconnected)
            null -> {}
        }
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
