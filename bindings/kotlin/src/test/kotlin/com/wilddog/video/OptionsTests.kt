package com.wilddog.video

import java.io.File
import java.net.ServerSocket
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** A `wss://` wd-signal with a self-signed certificate, and that certificate's file. */
object Tls {
    val url: String? = System.getProperty("wilddog.test.tls.url")
    val ca: String? = System.getProperty("wilddog.test.tls.ca")
}

fun registerOptionsTests() {
    test("ClientOptions: several urls are tried in order, the live one connects") {
        val dead = ServerSocket(0).use { it.localPort }
        val options = ClientOptions(
            urls = listOf("ws://127.0.0.1:$dead", Env.url),
            token = "dev:" + uid("alice"),
            connectTimeout = 2.seconds,
            heartbeat = 1.seconds,
            deadAfter = 3.seconds,
            reconnect = false,
            reconnectMin = 10.milliseconds,
            reconnectMax = 100.milliseconds,
            dispatch = Dispatch.IO,
        )
        WilddogVideoClient.connect(options).use { assertEquals(ConnectionState.CONNECTED, it.connectionState) }
    }

    test("ClientOptions: a bad option is an InvalidArgumentException naming its key") {
        val base = ClientOptions(Env.url, "dev:" + uid("alice"))
        fun field(options: ClientOptions) =
            assertFailsWith<InvalidArgumentException> { WilddogVideoClient.connect(options).close() }.field
        assertEquals("heartbeatMs", field(base.copy(heartbeat = 0.seconds)))
        assertEquals("deadAfterMs", field(base.copy(heartbeat = 5.seconds, deadAfter = 1.seconds)))
        assertEquals("reconnectMinMs", field(base.copy(reconnectMin = 20.seconds)))
        assertEquals("urls", field(base.copy(urls = emptyList())))
        // Quotes and control characters survive the trip through JSON.
        assertFailsWith<UnauthorizedException> {
            WilddogVideoClient.connect(base.copy(token = "not \"a\" token\n\\")).close()
        }
    }

    test("TLS: an untrusted certificate is a TlsException; trusting its CA (file or PEM) connects") {
        val url = Tls.url ?: error("-Dwilddog.test.tls.url is required")
        val ca = Tls.ca ?: error("-Dwilddog.test.tls.ca is required")
        val token = "dev:" + uid("alice")
        val e = assertFailsWith<TlsException> { WilddogVideoClient.connect(url, token).close() }
        assertTrue(e.message!!.isNotEmpty())
        assertEquals(
            "caFile",
            assertFailsWith<InvalidArgumentException> {
                WilddogVideoClient.connect(ClientOptions(listOf(url), token, caFile = "/nonexistent/ca.pem")).close()
            }.field,
        )
        WilddogVideoClient.connect(ClientOptions(listOf(url), token, caFile = ca)).use {
            assertEquals(ConnectionState.CONNECTED, it.connectionState)
        }
        WilddogVideoClient.connect(ClientOptions(listOf(url), token, caPem = File(ca).readText())).use {
            assertEquals(ConnectionState.CONNECTED, it.connectionState)
        }
    }
}
