package com.wilddog.video

/** How an [IncomingInvite] ended: exactly one of these happens, once. */
sealed class IncomingOutcome {
    /** The caller confirmed this device's accept; the [conversation] exists. */
    data class Accepted(
        /** The conversation (the same object as [IncomingInvite.conversation]). */
        val conversation: Conversation,
    ) : IncomingOutcome()

    /** The caller's outcome is this device's reject. */
    data class Rejected(
        /** The reason given to [IncomingInvite.reject]. */
        val reason: RejectReason,
    ) : IncomingOutcome()

    /** The caller canceled, or another device of this user answered. */
    data class Canceled(
        /** Which of the two. */
        val reason: CancelReason,
    ) : IncomingOutcome()

    /** The invite failed here (`CONFIRM_TIMEOUT`, `CALLER_GONE`, `NETWORK`, …). */
    data class Failed(
        /** Why. */
        val reason: FailureReason,
    ) : IncomingOutcome()
}

/**
 * An invite this client received (`IncomingInvite` in `wilddog.video`), handed to
 * the [WilddogVideoClient.onInvite] listener.
 *
 * Exactly one of `accepted`, `rejected`, `canceled`, `failed` happens, once. Each
 * `on…` call adds a listener; one added after its event still hears it, once.
 * Closing frees the handle; it does not reject (an unanswered invite rings until
 * its lifetime ends).
 */
class IncomingInvite internal constructor(
    id: Long,
    dispatcher: Dispatcher,
) : WilddogHandle(id, "IncomingInvite", NativeLib::incomingFree) {

    /** The caller's user id. */
    val from: String

    /** The id of the conversation the invite is for. */
    val conversationId: String

    /** The media mode. */
    val mode: Mode

    /** The caller's text, if any. */
    val userData: String?

    /** The caller's SDP offer, if any. */
    val offer: String?

    private val core = IncomingCore(handle, dispatcher)

    init {
        from = closeOnFailure { handle.use { NativeLib.incomingFrom(it) } }
        conversationId = closeOnFailure { handle.use { NativeLib.incomingConversationId(it) } }
        mode = closeOnFailure { Mode.of(handle.use { NativeLib.incomingMode(it) }) }
        userData = closeOnFailure { handle.use { NativeLib.incomingUserData(it) } }
        offer = closeOnFailure { handle.use { NativeLib.incomingOffer(it) } }
        closeOnFailure { handle.use { NativeLib.incomingSetSink(it, core) } }
    }

    /** `PENDING`, `ACCEPTING`, `REJECTING`, `ACCEPTED`, `REJECTED`, `CANCELED` or `FAILED`. */
    val status: IncomingStatus get() = IncomingStatus.of(handle.use { NativeLib.incomingStatus(it) })

    /** Why it failed, once `FAILED`. */
    val failureReason: FailureReason? get() = FailureReason.of(handle.use { NativeLib.incomingFailureReason(it) })

    /** Why it was canceled, once `CANCELED`. */
    val cancelReason: CancelReason? get() = CancelReason.of(handle.use { NativeLib.incomingCancelReason(it) })

    /** The conversation, once `ACCEPTED` (always the same object; close it when done). */
    val conversation: Conversation? get() = core.conversation()

    /**
     * Accepts, sending [answer] (SDP) and [userData] to the caller. Valid only while
     * `PENDING`; the status becomes `ACCEPTING`, then `ACCEPTED` once the caller
     * confirms (or `CANCELED` / `FAILED(CONFIRM_TIMEOUT)`).
     *
     * @throws InvalidStateException if not pending.
     * @throws InvalidArgumentException for a too-long answer or userData.
     */
    @JvmOverloads
    fun accept(answer: String? = null, userData: String? = null) =
        handle.use { NativeLib.incomingAccept(it, answer, userData) }

    /**
     * Rejects. Valid only while `PENDING`: when it returns the status is `REJECTING`
     * and the caller is told. The caller decides, as for an accept: it ends `REJECTED`
     * when the caller's outcome is this reject, `CANCELED` when the caller canceled (or
     * another device answered) first, or `FAILED(CONFIRM_TIMEOUT)`; so both sides end
     * the same way.
     *
     * @throws InvalidStateException if not pending.
     */
    @JvmOverloads
    fun reject(reason: RejectReason = RejectReason.DECLINED) =
        handle.use { NativeLib.incomingReject(it, reason.value) }

    /** Adds a listener for `accepted` (the caller confirmed), with the conversation. */
    fun onAccepted(listener: (Conversation) -> Unit): IncomingInvite = apply {
        core.hub.listen { if (it is IncomingOutcome.Accepted) listener(it.conversation) }
    }

    /** Adds a listener for `rejected` (the caller's outcome is this device's reject). */
    fun onRejected(listener: (RejectReason) -> Unit): IncomingInvite = apply {
        core.hub.listen { if (it is IncomingOutcome.Rejected) listener(it.reason) }
    }

    /** Adds a listener for `canceled`, with the reason. */
    fun onCanceled(listener: (CancelReason) -> Unit): IncomingInvite = apply {
        core.hub.listen { if (it is IncomingOutcome.Canceled) listener(it.reason) }
    }

    /** Adds a listener for `failed`, with the reason. */
    fun onFailed(listener: (FailureReason) -> Unit): IncomingInvite = apply {
        core.hub.listen { if (it is IncomingOutcome.Failed) listener(it.reason) }
    }

    /** Adds a listener for the outcome, whichever it is. */
    fun onOutcome(listener: (IncomingOutcome) -> Unit): IncomingInvite = apply {
        core.hub.listen(listener)
    }

    /** `"IncomingInvite(from=…, conversationId=…)"`. */
    override fun toString(): String = "IncomingInvite(from=$from, conversationId=$conversationId)"
}

/** Listener state and glue sink of an [IncomingInvite]; never references the invite. */
internal class IncomingCore(private val handle: NativeHandle, private val dispatcher: Dispatcher) {
    val hub = EventHub<IncomingOutcome>(dispatcher)
    private var conversation: Conversation? = null

    fun conversation(): Conversation? =
        synchronized(this) {
            conversation ?: run {
                val id = handle.use { NativeLib.incomingConversation(it) }
                if (id == 0L) null else Conversation(id, dispatcher).also { conversation = it }
            }
        }

    private fun adopt(id: Long): Conversation? =
        synchronized(this) {
            val cached = conversation
            when {
                id == 0L -> cached
                cached != null -> cached.also { NativeLib.conversationForget(id) }
                else -> Conversation(id, dispatcher).also { conversation = it }
            }
        }

    /** Called by the glue on the SDK's event thread. */
    @Suppress("unused")
    fun onEvent(kind: Int, reason: Int, conversationId: Long) {
        val event = when (IncomingEventKind.of(kind)) {
            IncomingEventKind.ACCEPTED -> IncomingOutcome.Accepted(
                adopt(conversationId) ?: error("accepted without a conversation"),
            )
            IncomingEventKind.REJECTED -> IncomingOutcome.Rejected(RejectReason.of(reason) ?: RejectReason.DECLINED)
            IncomingEventKind.CANCELED -> IncomingOutcome.Canceled(
                CancelReason.of(reason) ?: CancelReason.CALLER_CANCELED,
            )
            IncomingEventKind.FAILED -> IncomingOutcome.Failed(FailureReason.of(reason) ?: FailureReason.SERVER_ERROR)
        }
        hub.emit(event)
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
