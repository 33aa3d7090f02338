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

    /**
     * Canceled: by this client ([CancelReason.CALLER_CANCELED]), or because the
     * invitee invited this user at the same time and this invite lost
     * ([CancelReason.GLARE]).
     */
    data class Canceled(
        /** Why. */
        val reason: CancelReason,
    ) : Outcome()

    /** The invite failed. */
    data class Failed(
        /** Why. */
        val reason: FailureReason,
    ) : Outcome()

    /** The [OutgoingStatus] this outcome leaves the invite in. */
    val status: OutgoingStatus
        get() = when (this) {
            is Accepted -> OutgoingStatus.ACCEPTED
            is Rejected -> OutgoingStatus.REJECTED
            is Canceled -> OutgoingStatus.CANCELED
            is Failed -> OutgoingStatus.FAILED
        }
}

/**
 * An invite this client sent (`OutgoingInvite` in `wilddog.video`), returned by
 * [WilddogVideoClient.inviteToConversation].
 *
 * Exactly one of `accepted`, `rejected`, `canceled`, `failed` happens, once;
 * `ringing` may come before it. Each `on…` call adds a listener and returns its
 * [Subscription]; a listener added after its event happened still hears it, once.
 * While it has listeners and no outcome, the invite stays alive even if the app
 * keeps no reference to it: `client.inviteToConversation("bob").onOutcome(show)`
 * hears its outcome. Listeners run as described on [WilddogVideoClient]. Closing
 * the invite frees the handle and removes its listeners; it does not cancel.
 */
class OutgoingInvite internal constructor(
    id: Long,
    /** The client that sent it (kept alive by the invite). */
    internal val client: WilddogVideoClient,
    into: Conversation? = null,
) : WilddogHandle(id, "OutgoingInvite", NativeLib::outgoingFree) {

    private val core = OutgoingCore(this, handle, client, into)

    /** The invitee's user id. */
    val to: String = closeOnFailure { handle.use { NativeLib.outgoingTo(it) } }

    /** The id of the conversation the invite is for, known at once. */
    val conversationId: String = closeOnFailure { handle.use { NativeLib.outgoingConversationId(it) } }

    /** The media mode asked for. */
    val mode: Mode = closeOnFailure { Mode.of(handle.use { NativeLib.outgoingMode(it) }) }

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

    /** Adds a listener for `ringing` (a device of the invitee has the invite; at most once). */
    fun onRinging(listener: EventCallback): Subscription = core.ringing.listen { listener.onEvent() }

    /** Adds a listener for `accepted`, with the conversation. */
    fun onAccepted(listener: Listener<Conversation>): Subscription =
        core.outcome.listen { if (it is Outcome.Accepted) listener.onEvent(it.conversation) }

    /** Adds a listener for `rejected`, with the invitee's reason. */
    fun onRejected(listener: Listener<RejectReason>): Subscription =
        core.outcome.listen { if (it is Outcome.Rejected) listener.onEvent(it.reason) }

    /** Adds a listener for `canceled`, with the reason. */
    fun onCanceled(listener: Listener<CancelReason>): Subscription =
        core.outcome.listen { if (it is Outcome.Canceled) listener.onEvent(it.reason) }

    /** Adds a listener for `failed`, with the reason. */
    fun onFailed(listener: Listener<FailureReason>): Subscription =
        core.outcome.listen { if (it is Outcome.Failed) listener.onEvent(it.reason) }

    /** Adds a listener for the outcome, whichever it is. */
    fun onOutcome(listener: Listener<Outcome>): Subscription = core.outcome.listen(listener::onEvent)

    /**
     * Adds a listener for the status: it hears the status the invite had at its
     * last event first (`PENDING` until the outcome), then the outcome's status,
     * once. The status property may be ahead of it: it changes before the event.
     */
    fun onStatusChanged(listener: Listener<OutgoingStatus>): Subscription = core.status.listen(listener::onEvent)

    /** Whether the glue holds this invite's sink now (tests). */
    internal val isKeptAlive: Boolean get() = core.group.isInstalled

    override fun beforeClose() = core.group.closing()

    /** `"OutgoingInvite(to=…, conversationId=…)"`. */
    override fun toString(): String = "OutgoingInvite(to=$to, conversationId=$conversationId)"
}

/**
 * The invite's listener state and the sink the glue calls. It references the
 * invite, so while the glue holds it (while the invite has listeners and no
 * outcome) the invite stays reachable.
 */
internal class OutgoingCore(
    /** Only kept: what the glue's reference to this object keeps alive. */
    @Suppress("unused") private val invite: OutgoingInvite,
    private val handle: NativeHandle,
    private val client: WilddogVideoClient,
    /** The conversation the invite was made into ([Conversation.invite]), if any. */
    private val into: Conversation?,
) {
    val group = SinkGroup(client.dispatcher, handle) { id, install ->
        NativeLib.outgoingSetSink(id, if (install) this else null)
    }
    val ringing = EventHub<Unit>(group, Replay.STICKY)
    val outcome = EventHub<Outcome>(group, Replay.STICKY)
    val status = StatusHub(group, OutgoingStatus::isFinal)
    private var conversation: Conversation? = null

    init {
        status.emit(OutgoingStatus.PENDING)
    }

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
     * into, unless the app closed it, since one conversation has one native
     * listener and so one live object.
     */
    private fun wrap(id: Long): Conversation =
        into?.takeUnless { it.isClosed }?.also { NativeLib.conversationForget(id) }
            ?: Conversation(id, client)

    /** The reason of a cancel: the glue's, else the invite's own (read before the handle may close). */
    private fun cancelReason(reason: Int): CancelReason =
        CancelReason.of(reason)
            ?: runCatching { CancelReason.of(handle.use { NativeLib.outgoingCancelReason(it) }) }.getOrNull()
            ?: CancelReason.CALLER_CANCELED

    /** Called by the glue on the SDK's thread. */
    fun onEvent(kind: Int, reason: Int, conversationId: Long) {
        val event = when (OutgoingEventKind.of(kind)) {
            OutgoingEventKind.RINGING -> {
                ringing.emit(Unit)
                return
            }
            OutgoingEventKind.ACCEPTED -> Outcome.Accepted(
                adopt(conversationId) ?: error("accepted without a conversation"),
            )
            OutgoingEventKind.REJECTED -> Outcome.Rejected(RejectReason.of(reason) ?: RejectReason.DECLINED)
            OutgoingEventKind.CANCELED -> Outcome.Canceled(cancelReason(reason))
            OutgoingEventKind.FAILED -> Outcome.Failed(FailureReason.of(reason) ?: FailureReason.SERVER_ERROR)
        }
        status.emit(event.status)
        outcome.emit(event)
        group.finish()
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
