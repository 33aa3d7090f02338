package com.wilddog.video

import java.util.concurrent.Executor
import kotlin.time.Duration
import kotlin.time.Duration.Companion.seconds

/**
 * A connected client (`wilddog.video` `Client`): one connection to a `wd-signal`
 * server, with its own I/O and event threads.
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
 * **Lifetime.** A client with a listener ([onInvite], [onConnectionStateChanged])
 * stays connected until [close] or until it is `DISCONNECTED`, even if the app
 * keeps no reference to it; a client without listeners that the app dropped is
 * closed by a cleaner.
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

    /** This user's id, as the server's token named it. */
    val uid: String = closeOnFailure { handle.use { NativeLib.clientUid(it) } }

    /** This device's id, given by the server: a new one after every reconnection. */
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
     * refused as unauthorized.
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

    /** Invites and conversations the native client still tracks (a leak diagnostic). */
    internal fun liveCount(): Int = handle.use { NativeLib.clientLiveCount(it) }

    /** Whether the glue holds a sink of this client now (tests). */
    internal val isKeptAlive: Boolean get() = sink.inviteGroup.isInstalled || sink.stateGroup.isInstalled

    override fun beforeClose() {
        sink.inviteGroup.closing()
        sink.stateGroup.closing()
    }

    override fun afterClose() {
        sink.states.emit(ConnectionState.DISCONNECTED)
    }

    /** `"WilddogVideoClient(uid=…)"`. */
    override fun toString(): String = "WilddogVideoClient(uid=$uid)"

    /** Connecting: [connect]. */
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

    /** Called by the glue on the SDK's thread with a new handle this object owns. */
    fun onInvite(id: Long) {
        invites.emit(IncomingInvite(id, client))
    }

    /** Called by the glue on the SDK's thread with a `WD_CONNECTION_STATE_*`. */
    fun onConnectionState(state: Int) {
        val value = ConnectionState.of(state)
        states.emit(value)
        if (value == ConnectionState.DISCONNECTED) {
            // The client's last event: nothing more can arrive.
            inviteGroup.finish()
            stateGroup.finish()
        }
    }

    /** Called by the glue with an exception that escaped a call into this sink. */
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
