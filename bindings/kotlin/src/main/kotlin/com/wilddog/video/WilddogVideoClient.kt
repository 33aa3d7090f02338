package com.wilddog.video

import java.lang.ref.WeakReference
import java.util.concurrent.Executor
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * A client (`wilddog.video` `Client`): one connection to a `wd-signal` server,
 * with its own I/O and event threads. [connect] returns one once the server
 * welcomed it; [start] at once, connecting in the background (what an app woken
 * by a push uses before [handlePush]).
 *
 * ```kotlin
 * val client = WilddogVideoClient.connect(url, "dev:alice")
 * client.onInvite { incoming -> incoming.accept(answer = sdp) }
 * client.inviteToConversation("bob", offer = sdp).onOutcome { outcome -> println(outcome) }
 * ```
 *
 * **Threads.** Every method may be called from any thread, including from inside
 * a listener. Listeners of one client (and of its invites and conversations) run
 * one at a time, in order, on the `eventExecutor` given to [connect]; by default
 * on [WilddogVideo.defaultExecutor] (Android's main thread; elsewhere one daemon
 * thread of the process). Do not block inside a listener waiting for another
 * event.
 *
 * **Lifetime.** A client with a listener ([onInvite], [onConnectionStateChanged],
 * [onPushEvent]) stays connected until [close] or until it is `DISCONNECTED`, even
 * if the app keeps no reference to it; a client without listeners that the app
 * dropped is closed by a cleaner. [handlePush] wakes a `DISCONNECTED` client: it
 * connects again, and its listeners hear what follows.
 *
 * **Closing.** [close] closes the connection (every pending invite ends
 * `FAILED(NETWORK)`, its events still delivered; connection listeners hear
 * `DISCONNECTED` last) and frees the client. Invites and conversations are
 * separate handles; they keep their client alive while the app holds them.
 */
class WilddogVideoClient private constructor(
    id: Long,
    eventExecutor: Executor,
) : WilddogHandle(id, "WilddogVideoClient", NativeLib::clientFree) {

    internal val dispatcher = Dispatcher(eventExecutor)

    private val sink = ClientSink(this, dispatcher, handle)

    @Volatile
    private var knownUid: String? = null

    /** The [IncomingInvite]s this client made, so that one invite is one object while it is open. */
    private val invites = ArrayList<WeakReference<IncomingInvite>>()

    /**
     * This user's id, as the server's token named it. Known once the client was
     * first welcomed by the server; still readable after [close].
     *
     * @throws InvalidStateException ([ObjectState.NOT_YET_CONNECTED]) before the
     *   first connection of a client made with [start].
     */
    val uid: String
        get() = knownUid ?: handle.use { NativeLib.clientUid(it) }.also { knownUid = it }

    /** The connection state, or null once closed. */
    internal fun connectionStateOrNull(): ConnectionState? =
        try {
            connectionState
        } catch (e: HandleClosedException) {
            null
        }

    /**
     * This device's id, given by the server: a new one after every reconnection.
     *
     * @throws InvalidStateException ([ObjectState.NOT_YET_CONNECTED]) before the
     *   first connection of a client made with [start].
     */
    val device: String get() = handle.use { NativeLib.clientDevice(it) }

    /** The link to the server, now. */
    val connectionState: ConnectionState
        get() = ConnectionState.of(handle.use { NativeLib.clientConnectionState(it) })

    /**
     * Invites [participantId] to a new conversation (`inviteToConversation`). The
     * invite is `PENDING` and its [OutgoingInvite.conversationId] is known at once;
     * its outcome arrives as exactly one event.
     *
     * @param mode media mode.
     * @param userData text shown to the invitee, up to 8 KiB.
     * @param offer SDP offer, up to 64 KiB.
     * @param lifetime how long it may ring (1 ms to 1 hour).
     * @throws InvalidArgumentException naming the bad option.
     * @throws NotConnectedException when the connection is gone.
     */
    @JvmOverloads
    fun inviteToConversation(
        participantId: String,
        mode: Mode = Mode.P2P,
        userData: String? = null,
        offer: String? = null,
        lifetime: Duration = 60.seconds,
    ): OutgoingInvite {
        val id = handle.use {
            NativeLib.clientInvite(it, participantId, mode.value, userData, offer, lifetime.inWholeMilliseconds)
        }
        return OutgoingInvite(id, this)
    }

    /**
     * Adds a listener for incoming invites. Invites that arrived while the client
     * had no invite listener go to the next one added, in order; each invite goes
     * to every listener there is when it arrives. An [IncomingInvite] with
     * listeners stays alive until its outcome; close it to stop listening
     * earlier.
     */
    fun onInvite(listener: Listener<IncomingInvite>): Subscription = sink.invites.listen(listener::onEvent)

    /**
     * Adds a listener for the connection state: it hears the current state first,
     * then every change, in order (`CONNECTED` → `RECONNECTING` when the link is
     * lost or silent, `RECONNECTING` → `CONNECTED` with a new [device] when a
     * reconnection succeeded), and `DISCONNECTED` once, last: after [disconnect]
     * or [close], with [ClientOptions.reconnect] off, or when a reconnection is
     * refused as unauthorized. Only [handlePush] brings a `DISCONNECTED` client
     * back (`CONNECTING`, …): the listener hears that too.
     */
    fun onConnectionStateChanged(listener: Listener<ConnectionState>): Subscription =
        sink.states.listen(listener::onEvent)

    /**
     * Closes the connection and keeps the client: every pending invite ends
     * `FAILED(NETWORK)`, every conversation `disconnected` (their events are still
     * delivered), and the state is `DISCONNECTED`. Blocks until the connection has
     * ended; calling it again does nothing.
     */
    fun disconnect() = handle.use { NativeLib.clientDisconnect(it) }

    /**
     * With [Dispatch.MANUAL]: runs the callbacks that are due on this thread,
     * waiting up to [timeout] for the first, and returns how many queued deliveries
     * it handled (0 when the wait timed out). Listeners then run on the event
     * executor as usual; with a direct executor (`Executor { it.run() }`) they run
     * here, inside this call.
     *
     * @throws InvalidStateException ([ObjectState.THREAD_DISPATCH]) in the other
     *   dispatch modes, ([ObjectState.IN_CALLBACK]) from inside a callback.
     */
    @JvmOverloads
    fun dispatch(timeout: Duration = Duration.ZERO): Int =
        handle.use { NativeLib.clientDispatch(it, timeout.inWholeMilliseconds) }

    /**
     * Turns a push this device received ([payload]: its JSON, as the platform
     * handed it to the app: the bare payload, a push gateway's notification, an
     * APNs payload with `wd_push`) into the [IncomingInvite] it announces,
     * **without waiting for the network**: its [IncomingInvite.from],
     * [IncomingInvite.conversationId], [IncomingInvite.mode] and (when the push
     * carried it) [IncomingInvite.userData] are readable at once, so the app can
     * report the call to the system (ConnectionService, CallKit) inside its push
     * callback. The client then connects if it is not connected (also after it
     * gave up, or was disconnected) and fetches the invite: still ringing, it is
     * [confirmed][IncomingInvite.onConfirmed]; ended while the device slept, it
     * ends as it did (`CANCELED(CALLER_CANCELED)`, `CANCELED(ANSWERED_ELSEWHERE)`,
     * `FAILED(TIMEOUT)`, `FAILED(CALLER_GONE)`), one outcome, once.
     *
     * Always returns an invite: `PENDING` for one that rings; for an
     * `invite_ended` push, or an invite that already ended here, one that has
     * ended ([IncomingInvite.status] says how; the app shows a missed call), its
     * outcome listeners hearing it once. The same invite handed again, or already
     * delivered over the connection, is the same object. [onInvite] listeners do
     * not hear an invite that a push made first.
     *
     * @throws InvalidArgumentException for a payload that is not one of this SDK's
     *   pushes (not JSON, another payload `wd` version, a field over its limit, an
     *   invite from this very user); [InvalidArgumentException.field] names what is
     *   wrong. Nothing changes.
     */
    fun handlePush(payload: String): IncomingInvite {
        val before = connectionStateOrNull()
        val id = handle.use { NativeLib.clientHandlePush(it, payload) }
        val after = connectionStateOrNull()
        sink.woken(before == ConnectionState.DISCONNECTED || after == ConnectionState.DISCONNECTED)
        return adoptIncoming(id)
    }

    /**
     * [handlePush] for the data of an FCM message (`RemoteMessage.data` in
     * `FirebaseMessagingService.onMessageReceived`): the push is its `wd_push`
     * string.
     *
     * @throws InvalidArgumentException as the other [handlePush].
     */
    fun handlePush(data: Map<String, String>): IncomingInvite =
        handlePush(buildString { appendJsonObject(data) })

    /**
     * Registers this device's push key, so that an invite to this user wakes the
     * device while this client has no connection (the app is in the background,
     * or not running). Callable before the client connected; the client
     * remembers it (up to 16) and registers it again on every connection. The
     * server's answer comes as a [PushEvent] ([onPushEvent]): `Registered`, or
     * `RegistrationFailed` (a server without a push gateway, a rate limit). When
     * the platform hands the app a new token, register it (and unregister the old
     * one).
     *
     * @throws InvalidArgumentException naming the bad field (`appId`, `pushKey`,
     *   `data`: empty, over its limit, a control character).
     */
    fun registerPush(registration: PushRegistration) =
        handle.use { NativeLib.clientRegisterPush(it, registration.toJson()) }

    /**
     * Removes this device's registration of [pushKey] for [appId]: the device is
     * no longer woken for it. Sent now, or on the next connection;
     * [PushEvent.Unregistered] confirms it.
     *
     * @throws InvalidArgumentException naming the bad field (`appId`, `pushKey`).
     */
    fun unregisterPush(appId: String, pushKey: String) =
        handle.use { NativeLib.clientUnregisterPush(it, appId, pushKey) }

    /**
     * Adds a listener for what becomes of this client's push registrations
     * ([PushEvent]): `Registered`, `RegistrationFailed`, `Unregistered`, and
     * `Rejected` when the push gateway reported the key dead (register a fresh
     * token then). Events that came while there was no push listener go to the
     * next one added.
     */
    fun onPushEvent(listener: Listener<PushEvent>): Subscription = sink.pushes.listen(listener::onEvent)

    /**
     * The one [IncomingInvite] of the native invite behind the new handle [id]: the
     * open object this client made for the same invite before (the new handle is
     * then dropped), or a new one.
     */
    internal fun adoptIncoming(id: Long): IncomingInvite =
        synchronized(invites) {
            invites.removeAll { ref -> ref.get()?.isClosed ?: true }
            val known = try {
                invites.firstNotNullOfOrNull { ref -> ref.get()?.takeIf { it.isSameInvite(id) } }
            } catch (e: Throwable) {
                NativeLib.incomingFree(id)
                throw e
            }
            if (known != null) {
                // A second handle of the invite: dropped without touching the
                // invite's listener, which the known object installed.
                NativeLib.incomingForget(id)
                known
            } else {
                IncomingInvite(id, this).also { invites += WeakReference(it) }
            }
        }

    /** Invites and conversations the native client still tracks (a leak diagnostic). */
    internal fun liveCount(): Int = handle.use { NativeLib.clientLiveCount(it) }

    /** Whether the glue holds a sink of this client now (tests). */
    internal val isKeptAlive: Boolean
        get() = sink.inviteGroup.isInstalled || sink.stateGroup.isInstalled || sink.pushGroup.isInstalled

    override fun beforeClose() {
        sink.inviteGroup.closing()
        sink.stateGroup.closing()
        sink.pushGroup.closing()
    }

    override fun afterClose() {
        sink.states.emit(ConnectionState.DISCONNECTED)
    }

    /** `"WilddogVideoClient(uid=…)"` (`uid=?` before the first connection). */
    override fun toString(): String {
        val known = knownUid ?: try {
            uid
        } catch (e: WilddogException) {
            null
        }
        return "WilddogVideoClient(uid=${known ?: "?"})"
    }

    /** Making a client: [connect] (blocking until welcomed) or [start] (at once). */
    companion object {
        /**
         * Connects to [url] (`ws://host:port` or `wss://…`) with [token] (a signed
         * token, or `dev:<uid>` against a server in dev mode), blocking until the
         * server welcomed the client. The other [connect] takes [ClientOptions]
         * (several URLs, TLS trust, heartbeats, reconnection); the coroutine layer
         * has a suspending `WilddogVideo.connect`.
         *
         * @param eventExecutor runs every listener of this client (and of its
         *   invites and conversations); `null` for [WilddogVideo.defaultExecutor].
         *   Use a serial executor (a single thread, or a looper).
         * @throws InvalidArgumentException for a bad url or token.
         * @throws UnauthorizedException when the server refuses the token.
         * @throws NetworkException when the server cannot be reached.
         * @throws TlsException when a `wss://` server's certificate is refused.
         * @throws ProtocolException when it answers something unexpected.
         */
        @JvmStatic
        @JvmOverloads
        fun connect(url: String, token: String, eventExecutor: Executor? = null): WilddogVideoClient =
            connect(ClientOptions(url, token), eventExecutor)

        /**
         * Connects with every setting in [options], blocking until the server
         * welcomed the client (each of [ClientOptions.urls] is tried once, in
         * order).
         *
         * @param eventExecutor as in the other [connect].
         * @throws InvalidArgumentException naming the bad option by its C
         *   configuration key (`urls`, `heartbeatMs`, `caFile`, …).
         * @throws UnauthorizedException when the server refuses the token.
         * @throws NetworkException when no server can be reached.
         * @throws TlsException when a `wss://` server's certificate is refused
         *   (not valid for the host, expired, or not signed by a trusted CA).
         * @throws ProtocolException when it answers something unexpected.
         */
        @JvmStatic
        @JvmOverloads
        fun connect(options: ClientOptions, eventExecutor: Executor? = null): WilddogVideoClient {
            val id = NativeLib.clientConnectWith(options.toJson())
            return WilddogVideoClient(id, eventExecutor ?: WilddogVideo.defaultExecutor).apply {
                closeOnFailure { uid }
            }
        }

        /**
         * Makes a client of [url] and [token] and returns at once, without the
         * network: it connects in the background (and reconnects as
         * [ClientOptions] say). See the other [start].
         *
         * @throws InvalidArgumentException for a bad url or token.
         */
        @JvmStatic
        @JvmOverloads
        fun start(url: String, token: String, eventExecutor: Executor? = null): WilddogVideoClient =
            start(ClientOptions(url, token), eventExecutor)

        /**
         * Makes a client with every setting in [options] and returns at once: it
         * connects in the background, and [onConnectionStateChanged] reports how
         * that goes (`CONNECTING`, `CONNECTED`, …, and `DISCONNECTED` when it gives
         * up: reconnection off, or the token refused). An unreachable server or a
         * refused token is a state, not an exception. This is what an app woken by
         * a push uses, so it can hand the push to [handlePush] before any network;
         * [uid] is known once it first connected. Calls that need the server
         * ([inviteToConversation]) throw [NotConnectedException] until then.
         *
         * @param eventExecutor as in [connect].
         * @throws InvalidArgumentException naming the bad option (nothing else).
         */
        @JvmStatic
        @JvmOverloads
        fun start(options: ClientOptions, eventExecutor: Executor? = null): WilddogVideoClient {
            val id = NativeLib.clientStartWith(options.toJson())
            return WilddogVideoClient(id, eventExecutor ?: WilddogVideo.defaultExecutor)
        }
    }
}

/**
 * What the glue calls for a client's incoming invites and connection states.
 * It references the client, so while the glue holds it (while the client has
 * listeners, until `DISCONNECTED`) the client stays reachable.
 */
internal class ClientSink(
    private val client: WilddogVideoClient,
    dispatcher: Dispatcher,
    handle: NativeHandle,
) {
    val inviteGroup = SinkGroup(dispatcher, handle) { id, install ->
        NativeLib.clientSetInviteSink(id, if (install) this else null)
    }
    val invites = EventHub<IncomingInvite>(inviteGroup, Replay.STREAM)

    val stateGroup = SinkGroup(dispatcher, handle) { id, install ->
        NativeLib.clientSetConnectionSink(id, if (install) this else null)
    }
    val states = EventHub<ConnectionState>(stateGroup, Replay.LATEST)

    init {
        // Without a sink the state seen last goes stale; a new sink hears the current one.
        stateGroup.onRemoved = { if (!stateGroup.isFinished) states.forget() }
    }

    val pushGroup = SinkGroup(dispatcher, handle) { id, install ->
        NativeLib.clientSetPushSink(id, if (install) this else null)
    }
    val pushes = EventHub<PushEvent>(pushGroup, Replay.STREAM)

    /** Called by the glue on the SDK's thread with a new handle this object owns. */
    fun onInvite(id: Long) {
        invites.emit(client.adoptIncoming(id))
    }

    private val groups = listOf(inviteGroup, stateGroup, pushGroup)

    /**
     * Guards [wakePending] and [disconnectHeard], so that a `DISCONNECTED` and a
     * [WilddogVideoClient.handlePush] waking the client at the same moment agree
     * on whether the sinks stay. The sinks are set or removed only after it is
     * released (the glue may deliver an event inside that call).
     */
    private val wakeLock = Any()

    /** handlePush woke the client before its `DISCONNECTED` reached [onConnectionState]. */
    private var wakePending = false

    /** The last state delivered was `DISCONNECTED`. */
    private var disconnectHeard = false

    /** Called by the glue on the SDK's thread with a `WD_CONNECTION_STATE_*`. */
    fun onConnectionState(state: Int) {
        val value = ConnectionState.of(state)
        states.emit(value)
        // `DISCONNECTED` is the client's last event, unless handlePush woke it.
        val last = synchronized(wakeLock) {
            disconnectHeard = value == ConnectionState.DISCONNECTED
            when {
                value != ConnectionState.DISCONNECTED -> false
                wakePending -> false.also { wakePending = false }
                client.connectionStateOrNull() != ConnectionState.DISCONNECTED -> false
                else -> true.also { groups.forEach { it.markFinished(true) } }
            }
        }
        if (last) groups.forEach { it.sync() }
    }

    /** Called by the glue on the SDK's thread with a `WD_PUSH_EVENT_KIND_*` and its registration. */
    fun onPushEvent(kind: Int, appId: String, pushKey: String, message: String?) {
        PushEvent.of(kind, appId, pushKey, message)?.let { pushes.emit(it) }
    }

    /**
     * [WilddogVideoClient.handlePush] returned; [wasDisconnected]: the client was
     * `DISCONNECTED` just before or after, so the push woke it. A `DISCONNECTED`
     * already heard no longer ends the events (the sinks are installed again
     * while there are listeners); one still on its way will not end them.
     */
    fun woken(wasDisconnected: Boolean) {
        val reopened = synchronized(wakeLock) {
            when {
                disconnectHeard -> true.also { groups.forEach { it.markFinished(false) } }
                wasDisconnected -> false.also { wakePending = true }
                else -> false
            }
        }
        if (reopened) groups.forEach { it.sync() }
    }

    /** Called by the glue with an exception that escaped a call into this sink. */
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
