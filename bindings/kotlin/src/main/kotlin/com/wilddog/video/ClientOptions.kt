package com.wilddog.video

import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Where the native SDK runs a client's callbacks, before they reach its event executor. */
enum class Dispatch {
    /** On the client's own event thread (the default). */
    THREAD,

    /**
     * On the client's I/O thread, as soon as it has read what caused them: two
     * thread wake-ups fewer per event. The hand-over to the event executor is
     * quick, so this is safe with any executor.
     */
    IO,

    /**
     * Only inside [WilddogVideoClient.dispatch], on the thread that calls it (a
     * host loop that drains events itself). Nothing is delivered until it is
     * called.
     */
    MANUAL,
}

/**
 * Every setting of a connection: the keys of the C configuration
 * (`wd_client_new`), with Kotlin types. Only [urls] and [token] are required.
 *
 * ```kotlin
 * val options = ClientOptions(url, token).copy(reconnect = false, heartbeat = 2.seconds)
 * ```
 */
data class ClientOptions(
    /** `ws://` or `wss://` servers (`url` / `urls`), tried in rotation when (re)connecting. */
    val urls: List<String>,
    /** A signed token (`dev:<uid>` on a server in dev mode). */
    val token: String,
    /** Where callbacks run before the event executor (`dispatch`). */
    val dispatch: Dispatch = Dispatch.THREAD,
    /** One connection attempt: TCP, TLS, WebSocket, hello (`connectTimeoutMs`). */
    val connectTimeout: Duration = 10.seconds,
    /** How long an invitee that accepted or rejected waits for the caller's outcome (`confirmTimeoutMs`). */
    val confirmTimeout: Duration = 10.seconds,
    /** The ping interval (`heartbeatMs`). */
    val heartbeat: Duration = 5.seconds,
    /** The link counts as dead after this long with nothing heard (`deadAfterMs`). */
    val deadAfter: Duration = 15.seconds,
    /** Reconnect after a lost link; if `false` the client ends `DISCONNECTED` (`reconnect`). */
    val reconnect: Boolean = true,
    /** The shortest reconnection backoff, full jitter, doubling (`reconnectMinMs`). */
    val reconnectMin: Duration = 250.milliseconds,
    /** The longest reconnection backoff (`reconnectMaxMs`). */
    val reconnectMax: Duration = 10.seconds,
    /** A PEM file of the CA certificates trusted for `wss://`, else the built-in web roots (`caFile`). */
    val caFile: String? = null,
    /** PEM text of the CA certificates trusted for `wss://` (`caPem`). */
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
        caFile?.let {
            append(",\"caFile\":")
            appendJsonString(it)
        }
        caPem?.let {
            append(",\"caPem\":")
            appendJsonString(it)
        }
        append('}')
    }
}

/** Appends [text] as a JSON string literal. */
internal fun StringBuilder.appendJsonString(text: String) {
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
