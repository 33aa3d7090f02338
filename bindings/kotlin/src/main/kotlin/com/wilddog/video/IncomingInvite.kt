package com.wilddog.video

import java.util.concurrent.atomic.AtomicBoolean

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

    /** The [IncomingStatus] this outcome leaves the invite in. */
    val status: IncomingStatus
        get() = when (this) {
            is Accepted -> IncomingStatus.ACCEPTED
            is Rejected -> IncomingStatus.REJECTED
            is Canceled -> IncomingStatus.CANCELED
            is Failed -> IncomingStatus.FAILED
        }
}

/**
 * An invite this client received (`IncomingInvite` in `wilddog.video`), handed to
 * the [WilddogVideoClient.onInvite] listeners, or made from a push by
 * [WilddogVideoClient.handlePush].
 *
 * Exactly one of `accepted`, `rejected`, `canceled`, `failed` happens, once. Each
 * `on…` call adds a listener and returns its [Subscription]; one added after its
 * event still hears it, once. With listeners and no outcome, the invite stays
 * alive even if the app keeps no reference to it. Closing frees the handle and
 * removes its listeners; it does not reject (an unanswered invite rings until
 * its lifetime ends).
 *
 * One invite is one object: the same invite delivered by a push and over the
 * connection is the same `IncomingInvite` (while it is open), with one set of
 * events.
 */
class IncomingInvite internal constructor(
    id: Long,
    /** The client that received it (kept alive by the invite). */
    internal val client: WilddogVideoClient,
) : WilddogHandle(id, "IncomingInvite", NativeLib::incomingFree) {

    private val core = IncomingCore(this, handle, client)

    /** The caller's user id. */
    val from: String = closeOnFailure { handle.use { NativeLib.incomingFrom(it) } }

    /** The id of the conversation the invite is for. */
    val conversationId: String = closeOnFailure { handle.use { NativeLib.incomingConversationId(it) } }

    /** The media mode. */
    val mode: Mode = closeOnFailure { Mode.of(handle.use { NativeLib.incomingMode(it) }) }

    @Volatile
    private var lastUserData: String? = closeOnFailure { handle.use { NativeLib.incomingUserData(it) } }

    @Volatile
    private var lastOffer: String? = closeOnFailure { handle.use { NativeLib.incomingOffer(it) } }

    /**
     * The caller's text, if any. For an invite made from a push: what the push
     * carried (`null` when it did not fit in the push) until the invite
     * [is confirmed][isConfirmed], then the whole text. Still readable after
     * [close] (the last value read).
     */
    val userData: String?
        get() = try {
            handle.use { NativeLib.incomingUserData(it) }.also { lastUserData = it }
        } catch (e: HandleClosedException) {
            lastUserData
        }

    /**
     * The caller's SDP offer, if any. A push never carries it: for an invite made
     * from a push it is `null` until the invite [is confirmed][isConfirmed]. Still
     * readable after [close] (the last value read).
     */
    val offer: String?
        get() = try {
            handle.use { NativeLib.incomingOffer(it) }.also { lastOffer = it }
        } catch (e: HandleClosedException) {
            lastOffer
        }

    init {
        closeOnFailure {
            core.status.emit(status)
            if (isConfirmed) core.confirm()
        }
    }

    /**
     * Whether the server confirmed that the invite rings, so that [offer] and the
     * whole [userData] are known: at once for an invite delivered over the
     * connection; for one made by [WilddogVideoClient.handlePush], once the woken
     * client fetched it ([onConfirmed]). An invite that ended before it was
     * fetched is never confirmed.
     */
    val isConfirmed: Boolean get() = handle.use { NativeLib.incomingIsConfirmed(it) }

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
     * confirms (or `CANCELED` / `FAILED(CONFIRM_TIMEOUT)`). For an invite made from
     * a push and not yet [confirmed][isConfirmed], the accept is sent once the
     * woken client has fetched the invite; if it turns out to have ended, the
     * invite ends as it did (`CANCELED`, `FAILED`).
     *
     * @throws InvalidStateException if not pending.
     * @throws InvalidArgumentException for a too-long answer or userData.
     */
    @JvmOverloads
    fun accept(answer: String? = null, userData: String? = null) {
        handle.use { NativeLib.incomingAccept(it, answer, userData) }
        core.status.emit(IncomingStatus.ACCEPTING)
    }

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
    fun reject(reason: RejectReason = RejectReason.DECLINED) {
        handle.use { NativeLib.incomingReject(it, reason.value) }
        core.status.emit(IncomingStatus.REJECTING)
    }

    /**
     * Adds a listener for the invite's confirmation ([isConfirmed]): it runs once,
     * when the server confirmed that an invite made from a push still rings (its
     * [offer] and whole [userData] are then readable), or at once if the invite is
     * confirmed already (every invite delivered over the connection is). It comes
     * before the outcome; an invite that ended unconfirmed never runs it.
     * [accept] and [reject] need not wait for it: called earlier, they are carried
     * out when it comes.
     */
    fun onConfirmed(listener: EventCallback): Subscription = core.confirmed.listen { listener.onEvent() }

    /** Adds a listener for `accepted` (the caller confirmed), with the conversation. */
    fun onAccepted(listener: Listener<Conversation>): Subscription =
        core.outcome.listen { if (it is IncomingOutcome.Accepted) listener.onEvent(it.conversation) }

    /** Adds a listener for `rejected` (the caller's outcome is this device's reject). */
    fun onRejected(listener: Listener<RejectReason>): Subscription =
        core.outcome.listen { if (it is IncomingOutcome.Rejected) listener.onEvent(it.reason) }

    /** Adds a listener for `canceled`, with the reason. */
    fun onCanceled(listener: Listener<CancelReason>): Subscription =
        core.outcome.listen { if (it is IncomingOutcome.Canceled) listener.onEvent(it.reason) }

    /** Adds a listener for `failed`, with the reason. */
    fun onFailed(listener: Listener<FailureReason>): Subscription =
        core.outcome.listen { if (it is IncomingOutcome.Failed) listener.onEvent(it.reason) }

    /** Adds a listener for the outcome, whichever it is. */
    fun onOutcome(listener: Listener<IncomingOutcome>): Subscription = core.outcome.listen(listener::onEvent)

    /**
     * Adds a listener for the status: it hears the latest status first, then each
     * change (`ACCEPTING` or `REJECTING` after [accept] or [reject] returned, then
     * the outcome's status), never a status after a final one.
     */
    fun onStatusChanged(listener: Listener<IncomingStatus>): Subscription = core.status.listen(listener::onEvent)

    /** Whether the native handle [other] is this same invite (false once this one is closed). */
    internal fun isSameInvite(other: Long): Boolean =
        try {
            handle.use { NativeLib.incomingSame(it, other) }
        } catch (e: HandleClosedException) {
            false
        }

    /** Whether the glue holds this invite's sink now (tests). */
    internal val isKeptAlive: Boolean get() = core.group.isInstalled

    override fun beforeClose() = core.group.closing()

    /** `"IncomingInvite(from=…, conversationId=…)"`. */
    override fun toString(): String = "IncomingInvite(from=$from, conversationId=$conversationId)"
}

/**
 * Listener state and glue sink of an [IncomingInvite]. It references the invite,
 * so while the glue holds it (while the invite has listeners and no outcome) the
 * invite stays reachable.
 */
internal class IncomingCore(
    /** Only kept: what the glue's reference to this object keeps alive. */
    @Suppress("unused") private val invite: IncomingInvite,
    private val handle: NativeHandle,
    private val client: WilddogVideoClient,
) {
    val group = SinkGroup(client.dispatcher, handle) { id, install ->
        NativeLib.incomingSetSink(id, if (install) this else null)
    }
    val outcome = EventHub<IncomingOutcome>(group, Replay.STICKY)

    /** The confirmation, emitted at most once ([confirm]). */
    val confirmed = EventHub<Unit>(group, Replay.STICKY)
    private val isConfirmed = AtomicBoolean(false)

    /** Statuses in order; one after a final status is dropped. */
    val status = StatusHub(group, IncomingStatus::isFinal)
    private var conversation: Conversation? = null

    fun conversation(): Conversation? =
        synchronized(this) {
            conversation ?: run {
                val id = handle.use { NativeLib.incomingConversation(it) }
                if (id == 0L) null else Conversation(id, client).also { conversation = it }
            }
        }

    private fun adopt(id: Long): Conversation? =
        synchronized(this) {
            val cached = conversation
            when {
                id == 0L -> cached
                cached != null -> cached.also { NativeLib.conversationForget(id) }
                else -> Conversation(id, client).also { conversation = it }
            }
        }

    /** The invite is confirmed: its listeners hear it once, however often this is called. */
    fun confirm() {
        if (isConfirmed.compareAndSet(false, true)) confirmed.emit(Unit)
    }

    /** Called by the glue on the SDK's thread. */
    fun onEvent(kind: Int, reason: Int, conversationId: Long) {
        val event = when (IncomingEventKind.of(kind)) {
            IncomingEventKind.CONFIRMED -> {
                // Not an outcome: the sink stays for the outcome to come.
                confirm()
                return
            }
            IncomingEventKind.ACCEPTED -> IncomingOutcome.Accepted(
                adopt(conversationId) ?: error("accepted without a conversation"),
            )
            IncomingEventKind.REJECTED -> IncomingOutcome.Rejected(RejectReason.of(reason) ?: RejectReason.DECLINED)
            IncomingEventKind.CANCELED -> IncomingOutcome.Canceled(
                CancelReason.of(reason) ?: CancelReason.CALLER_CANCELED,
            )
            IncomingEventKind.FAILED -> IncomingOutcome.Failed(FailureReason.of(reason) ?: FailureReason.SERVER_ERROR)
        }
        status.emit(event.status)
        outcome.emit(event)
        group.finish()
    }

    /** Called by the glue with an exception that escaped [onEvent]. */
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}

/** A LATEST hub of statuses that ignores anything after a final status. */
internal class StatusHub<S : Any>(group: SinkGroup, private val isFinal: (S) -> Boolean) {
    private val hub = EventHub<S>(group, Replay.LATEST)

    fun emit(status: S) {
        synchronized(this) {
            val last = hub.latest
            if (last != null && isFinal(last)) return
            hub.emit(status)
        }
    }

    fun listen(listener: (S) -> Unit): Subscription = hub.listen(listener)
}
