package com.wilddog.video

import java.net.HttpURLConnection
import java.net.URI
import java.net.URLEncoder
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.LockSupport
import kotlin.test.fail

/** One push the test gateway recorded (`GET /pushes`). */
data class RecordedPush(
    /** The device's push key. */
    val pushKey: String,
    /** The notification's type: `wd.invite` or `wd.invite_ended`. */
    val type: String,
    /** The notification's `content`: the push payload (JSON text). */
    val content: String,
    /** `devices[].data.default_payload.wd_push`: the payload as the app receives it (JSON text in a string). */
    val wdPush: String,
    /** Whether the gateway answered this key rejected. */
    val rejected: Boolean,
) {
    /** The data of the FCM message Sygnal makes of this push (`RemoteMessage.data`). */
    val fcmData: Map<String, String>
        get() = mapOf("type" to type, "wd_push" to wdPush)

    /** The `invite_id` the payload names. */
    val inviteId: String get() = parseJson(content).at("invite_id") as String

    /** The `conversation_id` the payload names. */
    val conversationId: String get() = parseJson(content).at("conversation_id") as String
}

/**
 * The test push gateway (tests/support/push_gateway.py) that the test server
 * pushes through: what it recorded, and how it answers.
 */
object PushGateway {
    /** Every push recorded for [pushKey], oldest first (of [type] if given). */
    fun pushes(pushKey: String, type: String? = null): List<RecordedPush> {
        val query = "pushkey=" + URLEncoder.encode(pushKey, "UTF-8") +
            (type?.let { "&type=" + URLEncoder.encode(it, "UTF-8") } ?: "")
        val list = parseJson(request("GET", "/pushes?$query", null)) as List<*>
        return list.map { r ->
            RecordedPush(
                pushKey = r.at("pushkey") as String,
                type = r.at("type") as String,
                content = jsonText(r.at("content")),
                wdPush = r.at("data", "default_payload", "wd_push") as? String ?: "",
                rejected = r.at("rejected") == true,
            )
        }
    }

    /**
     * Waits (polling the gateway, bounded by [WAIT_SECONDS]) for a push of
     * [type] to [pushKey] that [predicate] accepts; a timeout is a failure.
     */
    fun awaitPush(pushKey: String, type: String = "wd.invite", predicate: (RecordedPush) -> Boolean = { true }): RecordedPush {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS)
        while (true) {
            pushes(pushKey, type).firstOrNull(predicate)?.let { return it }
            if (System.nanoTime() > deadline) fail("timed out after ${WAIT_SECONDS}s waiting for a $type push to $pushKey")
            LockSupport.parkNanos(10_000_000)
        }
    }

    /** Makes the gateway answer [pushKey] rejected from now on (a dead token). */
    fun reject(pushKey: String) {
        request("POST", "/control", "{\"reject\":[\"$pushKey\"]}")
    }

    private fun request(method: String, path: String, body: String?): String {
        val c = URI(Env.gateway + path).toURL().openConnection() as HttpURLConnection
        c.requestMethod = method
        c.connectTimeout = 5_000
        c.readTimeout = 5_000
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("Content-Type", "application/json")
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        try {
            check(c.responseCode == 200) { "$method $path: HTTP ${c.responseCode}" }
            return c.inputStream.use { it.readBytes().decodeToString() }
        } finally {
            c.disconnect()
        }
    }
}

/** [value] (parsed JSON) written back as JSON text. */
fun jsonText(value: Any?): String = buildString { writeJson(value) }

private fun StringBuilder.writeJson(value: Any?) {
    when (value) {
        null -> append("null")
        is String -> appendJsonString(value)
        is Boolean -> append(value)
        is Double -> if (value == Math.rint(value) && Math.abs(value) < 1e15) append(value.toLong()) else append(value)
        is Map<*, *> -> {
            append('{')
            value.entries.forEachIndexed { n, (k, v) ->
                if (n > 0) append(',')
                appendJsonString(k as String)
                append(':')
                writeJson(v)
            }
            append('}')
        }
        is List<*> -> {
            append('[')
            value.forEachIndexed { n, v ->
                if (n > 0) append(',')
                writeJson(v)
            }
            append(']')
        }
        else -> error("not JSON: $value")
    }
}
