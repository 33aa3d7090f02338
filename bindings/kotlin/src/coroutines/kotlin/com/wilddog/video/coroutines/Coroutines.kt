// The coroutine layer of the Kotlin wrapper (artifact `wilddog-video-coroutines`):
// suspending calls, StateFlows and Flows over the plain API, which itself
// stays free of kotlinx.coroutines.
package com.wilddog.video.coroutines

import com.wilddog.video.ClientOptions
import com.wilddog.video.ConnectionState
import com.wilddog.video.Conversation
import com.wilddog.video.IncomingInvite
import com.wilddog.video.IncomingOutcome
import com.wilddog.video.IncomingStatus
import com.wilddog.video.InvalidStateException
import com.wilddog.video.Message
import com.wilddog.video.OutgoingInvite
import com.wilddog.video.OutgoingStatus
import com.wilddog.video.Outcome
import com.wilddog.video.PushEvent
import com.wilddog.video.Subscription
import com.wilddog.video.WilddogVideo
import com.wilddog.video.WilddogVideoClient
import java.util.WeakHashMap
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.ExperimentalCoroutinesApi
import kotlinx.coroutines.asExecutor
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.channels.awaitClose
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.buffer
import kotlinx.coroutines.flow.callbackFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.suspendCancellableCoroutine

/**
 * Connects like [WilddogVideoClient.connect] without blocking the calling
 * thread (the blocking part runs on [Dispatchers.IO]). Cancelling the coroutine
 * returns at once; a connection that still succeeds afterwards is closed.
 *
 * @throws com.wilddog.video.WilddogException as [WilddogVideoClient.connect] does.
 */
suspend fun WilddogVideo.connect(options: ClientOptions, eventExecutor: Executor? = null): WilddogVideoClient =
    suspendCancellableCoroutine { cont ->
        Dispatchers.IO.asExecutor().execute {
            val result = runCatching { WilddogVideoClient.connect(options, eventExecutor) }
            result.onSuccess { client -> cont.resumeOrClose(client) }
            result.onFailure { e -> cont.resumeWithException(e) }
        }
    }

/** [connect] to one server with a token. */
suspend fun WilddogVideo.connect(url: String, token: String, eventExecutor: Executor? = null): WilddogVideoClient =
    connect(ClientOptions(url, token), eventExecutor)

@OptIn(ExperimentalCoroutinesApi::class)
private fun kotlinx.coroutines.CancellableContinuation<WilddogVideoClient>.resumeOrClose(client: WilddogVideoClient) {
    resume(client) { client.close() }
}

/**
 * Suspends until the invite's outcome and returns it (at once if it already
 * happened). Cancelling the coroutine while the invite is still `PENDING`
 * cancels the invite: the invitee stops ringing and hears `CALLER_CANCELED`.
 */
suspend fun OutgoingInvite.awaitOutcome(): Outcome =
    suspendCancellableCoroutine { cont ->
        val subscription = onOutcome { cont.resume(it) }
        cont.invokeOnCancellation {
            subscription.close()
            try {
                cancel()
            } catch (e: InvalidStateException) {
                // Not pending any more (or closed): it has its outcome already.
            }
        }
    }

/**
 * Suspends until the incoming invite's outcome and returns it. Cancelling the
 * coroutine only stops the wait; it does not reject.
 */
suspend fun IncomingInvite.awaitOutcome(): IncomingOutcome =
    suspendCancellableCoroutine { cont ->
        val subscription = onOutcome { cont.resume(it) }
        cont.invokeOnCancellation { subscription.close() }
    }

/**
 * Accepts ([IncomingInvite.accept]) and suspends until the caller's decision:
 * [IncomingOutcome.Accepted] with the conversation, or `Canceled` / `Failed`
 * when the caller canceled first or never confirmed.
 *
 * @throws InvalidStateException if the invite is not pending.
 */
suspend fun IncomingInvite.acceptAndAwait(answer: String? = null, userData: String? = null): IncomingOutcome {
    accept(answer, userData)
    return awaitOutcome()
}

/**
 * Suspends until the server confirmed that the invite rings
 * ([IncomingInvite.onConfirmed]): `true` then (at once for an invite confirmed
 * already, as every invite delivered over the connection is), so that
 * [IncomingInvite.offer] and the whole [IncomingInvite.userData] are readable;
 * `false` if the invite reached its outcome unconfirmed (it ended while the
 * device slept). Cancelling the coroutine only stops the wait.
 */
suspend fun IncomingInvite.awaitConfirmed(): Boolean =
    suspendCancellableCoroutine { cont ->
        val done = AtomicBoolean(false)
        val subscriptions = ArrayList<Subscription>(2)
        fun release() = synchronized(subscriptions) { subscriptions.forEach { it.close() } }
        fun finish(confirmed: Boolean) {
            if (done.compareAndSet(false, true)) {
                cont.resume(confirmed)
                release()
            }
        }
        // Added first, so a confirmation that happened already is replayed before the outcome.
        synchronized(subscriptions) {
            subscriptions += onConfirmed { finish(true) }
            subscriptions += onOutcome { finish(false) }
        }
        // A listener may have run inside onConfirmed/onOutcome (a direct executor).
        if (done.get()) release()
        cont.invokeOnCancellation { release() }
    }

/** One StateFlow per object, kept while the object lives. */
private val stateFlows = WeakHashMap<Any, StateFlow<*>>()

@Suppress("UNCHECKED_CAST")
private fun <T> cachedFlow(owner: Any, make: () -> StateFlow<T>): StateFlow<T> =
    synchronized(stateFlows) { stateFlows.getOrPut(owner, make) as StateFlow<T> }

/**
 * The client's connection state as a [StateFlow]: its value is the state the
 * client's last event reported, updated on the client's event executor
 * (`DISCONNECTED` last, after [WilddogVideoClient.disconnect] or `close()`). The
 * same flow each time; while the client is connected it keeps a listener on it,
 * so the client stays alive until it is closed or disconnected.
 */
val WilddogVideoClient.connectionStateFlow: StateFlow<ConnectionState>
    get() = cachedFlow(this) {
        val flow = MutableStateFlow(connectionState)
        onConnectionStateChanged { flow.value = it }
        flow.asStateFlow()
    }

/**
 * The invite's status as a [StateFlow]: `PENDING`, then the outcome's status
 * once its event was delivered. The same flow each time.
 */
val OutgoingInvite.statusFlow: StateFlow<OutgoingStatus>
    get() = cachedFlow(this) {
        val flow = MutableStateFlow(status)
        onStatusChanged { next -> flow.update { if (rank(next) > rank(it)) next else it } }
        flow.asStateFlow()
    }

/**
 * The incoming invite's status as a [StateFlow]: `PENDING`, `ACCEPTING` or
 * `REJECTING` once [IncomingInvite.accept] or [IncomingInvite.reject] returned,
 * then the outcome's status. It never goes back. The same flow each time.
 */
val IncomingInvite.statusFlow: StateFlow<IncomingStatus>
    get() = cachedFlow(this) {
        val flow = MutableStateFlow(status)
        onStatusChanged { next -> flow.update { if (rank(next) > rank(it)) next else it } }
        flow.asStateFlow()
    }

private fun rank(status: OutgoingStatus): Int = if (status == OutgoingStatus.PENDING) 0 else 1

private fun rank(status: IncomingStatus): Int =
    when (status) {
        IncomingStatus.PENDING -> 0
        IncomingStatus.ACCEPTING, IncomingStatus.REJECTING -> 1
        else -> 2
    }

/**
 * Incoming invites as a [Flow]: collecting adds an invite listener
 * ([WilddogVideoClient.onInvite]), and stopping the collection removes it.
 * Invites that arrived while the client had no invite listener come first.
 * Nothing is dropped while the collector is slow (the buffer is unbounded).
 */
val WilddogVideoClient.incomingInvites: Flow<IncomingInvite>
    get() = callbackFlow {
        val subscription = onInvite { trySend(it) }
        awaitClose { subscription.close() }
    }.buffer(Channel.UNLIMITED)

/**
 * What becomes of the client's push registrations as a [Flow]: collecting adds a
 * push listener ([WilddogVideoClient.onPushEvent]), and stopping the collection
 * removes it. Events no push listener heard yet come first. Nothing is dropped
 * while the collector is slow.
 */
val WilddogVideoClient.pushEvents: Flow<PushEvent>
    get() = callbackFlow {
        val subscription = onPushEvent { trySend(it) }
        awaitClose { subscription.close() }
    }.buffer(Channel.UNLIMITED)

/**
 * Messages sent to this device as a [Flow]: collecting adds a message listener
 * ([Conversation.onMessage]), and stopping the collection removes it. Messages
 * no listener heard yet come first; the flow ends when this device leaves the
 * conversation. Nothing is dropped while the collector is slow.
 */
val Conversation.messages: Flow<Message>
    get() = callbackFlow {
        val subscription = onMessage { from, payload -> trySend(Message(from, payload)) }
        val disconnected = onDisconnected { channel.close() }
        awaitClose {
            subscription.close()
            disconnected.close()
        }
    }.buffer(Channel.UNLIMITED)
