package com.wilddog.video

import java.util.concurrent.Executor
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/**
 * A connected client (`wilddog.video` `Client`): one connection to a `wd-signal`
 * server, with its own I/O and event threads.
 *
 * ```kotlin
 * WilddogVideoClient.connect("ws://127.0.0.1:8480", "dev:alice").use { client ->
 *     client.onInvite { incoming -> incoming.accept(answer = sdp) }
 *     val invite = client.inviteToConversation("bob", offer = sdp)
 *     invite.onOutcome { outcome -> println(outcome) }
 * }
 * ```
 *
 * **Threads.** Every method may be called from any thread, including from inside
 * a listener. Listeners of one client run one at a time, in order: on the
 * `eventExecutor` given to [connect] (on Android: `context.mainExecutor`), or
 * else on the SDK's event thread. Do not block inside a listener waiting for
 * another event of the same client.
 *
 * **Closing.** [close] closes the connection (every pending invite ends
 * `FAILED(NETWORK)`, its events still delivered) and frees the client. Invites
 * and conversations are separate handles: close them too (a forgotten one is
 * freed by a [java.lang.ref.Cleaner] once it is garbage).
 */
class WilddogVideoClient private constructor(
    id: Long,
    private val dispatcher: Dispatcher,
) : WilddogHandle(id, "WilddogVideoClient", NativeLib::clientFree) {

    /** This user's id, as the server's token named it. */
    val uid: String

    /** This device's id, given by the server. */
    val device: String

    private val sink = ClientSink(dispatcher)

    init {
        val names = closeOnFailure { handle.use { NativeLib.clientUid(it) to NativeLib.clientDevice(it) } }
        uid = names.first
        device = names.second
    }

    /** The link to the server. */
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
     * @param lifetimeMs how long it may ring (1 to 3 600 000 ms).
     * @throws InvalidArgumentException naming the bad option.
     * @throws NotConnectedException when the connection is gone.
     */
    @JvmOverloads
    fun inviteToConversation(
        participantId: String,
        mode: Mode = Mode.P2P,
        userData: String? = null,
        offer: String? = null,
        lifetimeMs: Long = 60_000,
    ): OutgoingInvite {
        val id = handle.use { NativeLib.clientInvite(it, participantId, mode.value, userData, offer, lifetimeMs) }
        return OutgoingInvite(id, dispatcher)
    }

    /**
     * Sets the listener for incoming invites, replacing the previous one. Invites
     * that arrived before any listener was set are handed to the first one, in
     * order. The [IncomingInvite] is yours: close it when done with it.
     */
    fun onInvite(listener: (IncomingInvite) -> Unit): WilddogVideoClient {
        val first = synchronized(sink) {
            val wasUnset = sink.listener == null
            sink.listener = listener
            wasUnset
        }
        if (first) handle.use { NativeLib.clientSetInviteSink(it, sink) }
        return this
    }

    /** Invites and conversations the native client still tracks (a leak diagnostic). */
    internal fun liveCount(): Int = handle.use { NativeLib.clientLiveCount(it) }

    /** `"WilddogVideoClient(uid=…, device=…)"`. */
    override fun toString(): String = "WilddogVideoClient(uid=$uid, device=$device)"

    companion object {
        /**
         * Connects to [url] (`ws://host:port`) with [token] (a signed token, or
         * `dev:<uid>` against a server in dev mode), blocking until the server
         * welcomed the client. [connect] with [ClientOptions] sets everything
         * else (several URLs, TLS trust, heartbeats, reconnection).
         *
         * @param eventExecutor runs every listener of this client (and of its
         *   invites and conversations); `null` runs them on the SDK's event thread.
         *   Use a serial executor (a single thread, or Android's main executor).
         * @throws InvalidArgumentException for a bad url, token or timeout.
         * @throws UnauthorizedException when the server refuses the token.
         * @throws NetworkException when the server cannot be reached.
         * @throws TlsException when a `wss://` server's certificate is refused.
         * @throws ProtocolException when it answers something unexpected.
         */
        @JvmStatic
        @JvmOverloads
        fun connect(
            url: String,
            token: String,
            eventExecutor: Executor? = null,
            connectTimeoutMs: Long = 10_000,
            confirmTimeoutMs: Long = 10_000,
        ): WilddogVideoClient = connect(
            ClientOptions(
                urls = listOf(url),
                token = token,
                connectTimeout = connectTimeoutMs.milliseconds,
                confirmTimeout = confirmTimeoutMs.milliseconds,
            ),
            eventExecutor,
        )

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
            return WilddogVideoClient(id, Dispatcher(eventExecutor))
        }
    }
}

/** Where the SDK runs this client's callbacks before they reach the event executor. */
enum class Dispatch {
    /** On the client's own event thread (the default). */
    THREAD,

    /**
     * On the client's I/O thread, as soon as it has read what caused them: two
     * thread wake-ups fewer per event. Listeners without an executor must then
     * not block: while one runs, the client reads and heartbeats nothing.
     */
    IO,
}

/**
 * Every setting of a connection: the keys of the C configuration
 * (`wd_client_new`), with Kotlin types. Only [urls] and [token] are required.
 */
data class ClientOptions(
    /** `ws://` or `wss://` servers, tried in rotation when (re)connecting. */
    val urls: List<String>,
    /** A signed token (`dev:<uid>` on a server in dev mode). */
    val token: String,
    /** Where callbacks run before the event executor. */
    val dispatch: Dispatch = Dispatch.THREAD,
    /** One connection attempt (TCP, TLS, WebSocket, hello). */
    val connectTimeout: Duration = 10.seconds,
    /** How long an invitee that accepted or rejected waits for the caller's outcome. */
    val confirmTimeout: Duration = 10.seconds,
    /** The ping interval. */
    val heartbeat: Duration = 5.seconds,
    /** The link counts as dead after this long with nothing heard. */
    val deadAfter: Duration = 15.seconds,
    /** Reconnect after a lost link; if `false` the client ends `DISCONNECTED`. */
    val reconnect: Boolean = true,
    /** The shortest reconnection backoff (full jitter, doubling). */
    val reconnectMin: Duration = 250.milliseconds,
    /** The longest reconnection backoff. */
    val reconnectMax: Duration = 10.seconds,
    /** A PEM file of the CA certificates trusted for `wss://` (else the built-in web roots). */
    val caFile: String? = null,
    /** PEM text of the CA certificates trusted for `wss://`. */
    val caPem: String? = null,
) {
    /** One server. */
    constructor(url: String, token: String) : this(listOf(url), token)

    /** The C configuration JSON. */
    internal fun toJson(): String = buildString {
        // One server is `url` (errors then name `url`), several `urls`.
        if (urls.size == 1) {
            append("{\"url\":")
            appendJsonString(urls[0])
        } else {
            append("{\"urls\":[")
            urls.forEachIndexed { i, url ->
                if (i > 0) append(',')
                appendJsonString(url)
            }
            append(']')
        }
        append(",\"token\":")
        appendJsonString(token)
        append(",\"dispatch\":")
        appendJsonString(dispatch.name.lowercase())
        append(",\"connectTimeoutMs\":").append(connectTimeout.inWholeMilliseconds)
        append(",\"confirmTimeoutMs\":").append(confirmTimeout.inWholeMilliseconds)
        append(",\"heartbeatMs\":").append(heartbeat.inWholeMilliseconds)
        append(",\"deadAfterMs\":").append(deadAfter.inWholeMilliseconds)
        append(",\"reconnect\":").append(reconnect)
        append(",\"reconnectMinMs\":").append(reconnectMin.inWholeMilliseconds)
        append(",\"reconnectMaxMs\":").append(reconnectMax.inWholeMilliseconds)
        caFile?.let { append(",\"caFile\":"); appendJsonString(it) }
        caPem?.let { append(",\"caPem\":"); appendJsonString(it) }
        append('}')
    }
}

/** Appends [text] as a JSON string literal. */
private fun StringBuilder.appendJsonString(text: String) {
    append('"')
    for (c in text) {
        when {
            c == '"' -> append("\\\"")
            c == '\\' -> append("\\\\")
            c < ' ' -> append("\\u").append(c.code.toString(16).padStart(4, '0'))
            else -> append(c)
        }
    }
    append('"')
}

/**
 * What the glue calls for each incoming invite. Holds no reference to the
 * [WilddogVideoClient], so a forgotten client can still be collected.
 */
internal class ClientSink(private val dispatcher: Dispatcher) {
    @Volatile
    var listener: ((IncomingInvite) -> Unit)? = null

    /** Called by the glue on the SDK's event thread with a new handle we own. */
    @Suppress("unused")
    fun onInvite(id: Long) {
        val invite = IncomingInvite(id, dispatcher)
        val l = listener
        val task = Runnable {
            if (l != null) l(invite) else invite.close()
        }
        if (dispatcher.enqueue(listOf(task))) dispatcher.launch()
    }

    /** Called by the glue with an exception that escaped a call into this sink. */
    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}
