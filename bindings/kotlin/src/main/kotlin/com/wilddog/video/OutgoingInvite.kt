package com.wilddog.video

/** How an [OutgoingInvite] ended: exactly one of these happens, once. */
sealed class Outcome {
    /** The invitee accepted; the [conversation] exists. */
    data class Accepted(
        /** The conversation the invite started (the same object as [OutgoingInvite.conversation]). */
        val conversation: Conversation,
    ) : Outcome()

    /** The invitee rejected. */
    data class Rejected(
        /** Why. */
        val reason: RejectReason,
    ) : Outcome()

    /** Canceled: by this client, or because it lost a glare (see [OutgoingInvite.cancelReason]). */
    data object Canceled : Outcome()

    /** The invite failed. */
    data class Failed(
        /** Why. */
        val reason: FailureReason,
    ) : Outcome()
}

/** Marks the `ringing` event in an invite's event history. */
internal object Ringing

/**
 * An invite this client sent (`OutgoingInvite` in `wilddog.video`), returned by
 * [WilddogVideoClient.inviteToConversation].
 *
 * Exactly one of `accepted`, `rejected`, `canceled`, `failed` happens, once;
 * `ringing` may come before it. Each `on…` call adds a listener; a listener added
 * after its event happened still hears it, once. Listeners run as described on
 * [WilddogVideoClient]. Closing the invite frees the handle; it does not cancel.
 */
class OutgoingInvite internal constructor(
    id: Long,
    dispatcher: Dispatcher,
    into: Conversation? = null,
) : WilddogHandle(id, "OutgoingInvite", NativeLib::outgoingFree) {

    /** The invitee's user id. */
    val to: String

    /** The id of the conversation the invite is for, known at once. */
    val conversationId: String

    /** The media mode asked for. */
    val mode: Mode

    private val core = OutgoingCore(handle, dispatcher, into)

    init {
        to = closeOnFailure { handle.use { NativeLib.outgoingTo(it) } }
        conversationId = closeOnFailure { handle.use { NativeLib.outgoingConversationId(it) } }
        mode = closeOnFailure { Mode.of(handle.use { NativeLib.outgoingMode(it) }) }
        closeOnFailure { handle.use { NativeLib.outgoingSetSink(it, core) } }
    }

    /**
     * `PENDING`, `ACCEPTED`, `REJECTED`, `CANCELED` or `FAILED`. Changes before the
     * matching event is delivered: after [cancel] returns it is `CANCELED`.
     */
    val status: OutgoingStatus get() = OutgoingStatus.of(handle.use { NativeLib.outgoingStatus(it) })

    /** Why it failed, once `FAILED`. */
    val failureReason: FailureReason? get() = FailureReason.of(handle.use { NativeLib.outgoingFailureReason(it) })

    /** Why it was rejected, once `REJECTED`. */
    val rejectReason: RejectReason? get() = RejectReason.of(handle.use { NativeLib.outgoingRejectReason(it) })

    /**
     * Why it was canceled, once `CANCELED`: `CALLER_CANCELED` when this client
     * canceled it, `GLARE` when the invitee invited this user at the same time and
     * this invite lost.
     */
    val cancelReason: CancelReason? get() = CancelReason.of(handle.use { NativeLib.outgoingCancelReason(it) })

    /** The conversation, once `ACCEPTED` (always the same object; close it when done). */
    val conversation: Conversation? get() = core.conversation()

    /** The SDP answer the invitee sent with its accept, once `ACCEPTED`. */
    val answer: String? get() = handle.use { NativeLib.outgoingAnswer(it) }

    /** The text the invitee sent with its accept, once `ACCEPTED`. */
    val answerUserData: String? get() = handle.use { NativeLib.outgoingAnswerUserData(it) }

    /**
     * Cancels the invite. Valid only while `PENDING`: when it returns the status is
     * `CANCELED`, the `canceled` event fires once and the invitee stops ringing.
     *
     * @throws InvalidStateException in any other status (nothing changes).
     */
    fun cancel() = handle.use { NativeLib.outgoingCancel(it) }

    /** Adds a listener for `ringing` (a device of the invitee has the invite). */
    fun onRinging(listener: () -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it === Ringing) listener() }
    }

    /** Adds a listener for `accepted`, with the new conversation. */
    fun onAccepted(listener: (Conversation) -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it is Outcome.Accepted) listener(it.conversation) }
    }

    /** Adds a listener for `rejected`, with the invitee's reason. */
    fun onRejected(listener: (RejectReason) -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it is Outcome.Rejected) listener(it.reason) }
    }

    /** Adds a listener for `canceled`. */
    fun onCanceled(listener: () -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it === Outcome.Canceled) listener() }
    }

    /** Adds a listener for `failed`, with the reason. */
    fun onFailed(listener: (FailureReason) -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it is Outcome.Failed) listener(it.reason) }
    }

    /** Adds a listener for the outcome, whichever it is. */
    fun onOutcome(listener: (Outcome) -> Unit): OutgoingInvite = apply {
        core.hub.listen { if (it is Outcome) listener(it) }
    }

    /** `"OutgoingInvite(to=…, conversationId=…)"`. */
    override fun toString(): String = "OutgoingInvite(to=$to, conversationId=$conversationId)"
}

/**
 * The invite's listener state and the sink the glue calls. References the
 * [NativeHandle] but never the [OutgoingInvite], so the Cleaner can still free a
 * forgotten invite while the glue holds this.
 */
internal class OutgoingCore(
    private val handle: NativeHandle,
    private val dispatcher: Dispatcher,
    /** The conversation the invite was made into ([Conversation.invite]), if any. */
    private val into: Conversation?,
) {
    val hub = EventHub<Any>(dispatcher)
    private var conversation: Conversation? = null

    /** The cached conversation, fetched once the invite is accepted. */
    fun conversation(): Conversation? =
        synchronized(this) {
            conversation ?: run {
                val id = handle.use { NativeLib.outgoingConversation(it) }
                if (id == 0L) null else wrap(id).also { conversation = it }
            }
        }

    /** Takes ownership of a conversation handle from the glue (or drops a duplicate). */
    private fun adopt(id: Long): Conversation? =
        synchronized(this) {
            val cached = conversation
            when {
                id == 0L -> cached
                cached != null -> cached.also { NativeLib.conversationForget(id) }
                else -> wrap(id).also { conversation = it }
            }
        }

    /**
     * The Kotlin object for a new conversation handle: the one the invite was made
     * into, unless the app closed it, since one conversation has one listener and
     * so one live object.
     */
    private fun wrap(id: Long): Conversation =
        into?.takeUnless { it.isClosed }?.also { NativeLib.conversationForget(id) }
            ?: Conversation(id, dispatcher)

    /** Called by the glue on the SDK's event thread. */
    @Suppress("unused")
    fun onEvent(kind: Int, reason: Int, conversationId: Long) {
        val event: Any = when (OutgoingEventKind.of(kind)) {
            OutgoingEventKind.RINGING -> Ringing
            OutgoingEventKind.ACCEPTED -> Outcome.Accepted(
                adopt(conversationId) ?: error("accepted without a conversation"),
            )
            OutgoingEventKind.REJECTED -> Outcome.Rejected(RejectReason.of(reason) ?: RejectReason.DECLINED)
            OutgoingEventKind.CANCELED -> Outcome.Canceled
            OutgoingEventKind.FAILED -> Outcome.Failed(FailureReason.of(reason) ?: FailureReason.SERVER_ERROR)
        }
        hub.emit(event)
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
