package com.wilddog.video

import java.net.ServerSocket
import java.util.concurrent.CountDownLatch
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertTrue
import kotlin.test.fail
import kotlin.time.Duration
import kotlin.time.Duration.Companion.milliseconds
import kotlin.time.Duration.Companion.seconds

/** Runs [body] with [WilddogVideo.listenerErrorHandler] capturing into a queue. */
fun <R> capturingListenerErrors(body: (LinkedBlockingQueue<Throwable>) -> R): R {
    val errors = LinkedBlockingQueue<Throwable>()
    val saved = WilddogVideo.listenerErrorHandler
    WilddogVideo.listenerErrorHandler = ListenerErrorHandler { errors.put(it) }
    try {
        return body(errors)
    } finally {
        WilddogVideo.listenerErrorHandler = saved
    }
}

/** A raw glue sink whose every event throws: exercises the glue's ExceptionCheck/Clear path. */
class ThrowingSink {
    val reported = LinkedBlockingQueue<Throwable>()

    @Suppress("unused", "UNUSED_PARAMETER")
    fun onEvent(kind: Int, reason: Int, conversation: Long) {
        if (conversation != 0L) NativeLib.conversationFree(conversation)
        throw IllegalStateException("sink throws on purpose (kind $kind)")
    }

    @Suppress("unused")
    fun reportError(e: Throwable) {
        reported.put(e)
    }
}

fun registerLifecycleTests() {
    test("client: uid, device and connection state") {
        val a = uid("alice")
        connect(a).use { alice ->
            assertEquals(a, alice.uid)
            assertTrue(alice.device.isNotEmpty())
            assertEquals(ConnectionState.CONNECTED, alice.connectionState)
        }
    }

    test("close() twice is a no-op, on every kind of handle") {
        val handles0 = NativeDiagnostics.liveHandleCount()
        val refs0 = NativeDiagnostics.globalRefCount()
        val (a, b) = uid("alice") to uid("bob")
        val bob = connect(b)
        val incoming = LinkedBlockingQueue<IncomingInvite>()
        bob.onInvite { incoming.put(it) }
        val alice = connect(a)
        val invite = alice.inviteToConversation(b)
        val accepted = LinkedBlockingQueue<Conversation>()
        invite.onAccepted { accepted.put(it) }
        val inc = incoming.takeOrFail("incoming")
        val calleeConversation = LinkedBlockingQueue<Conversation>()
        inc.onAccepted { calleeConversation.put(it) }
        inc.accept()
        val conversation = accepted.takeOrFail("accepted")
        val theirs = calleeConversation.takeOrFail("callee accepted")
        for (h in listOf(conversation, theirs, inc, invite, alice, bob)) {
            h.close()
            assertTrue(h.isClosed)
            h.close()
        }
        assertEquals(handles0, NativeDiagnostics.liveHandleCount(), "live native handles")
        assertEquals(refs0, NativeDiagnostics.globalRefCount(), "JNI global references")
    }

    test("use after close throws HandleClosedException (Kotlin and native checks)") {
        val alice = connect(uid("alice"))
        val invite = alice.inviteToConversation(uid("nobody"))
        val staleId = invite.handle.use { it }
        val to = invite.to
        invite.close()
        assertEquals(to, invite.to, "immutable properties stay readable")
        assertFailsWith<HandleClosedException> { invite.status }
        val e = assertFailsWith<HandleClosedException> { invite.cancel() }
        assertIs<InvalidStateException>(e)
        assertEquals(ObjectState.CLOSED, e.state)
        assertFailsWith<HandleClosedException> { invite.onOutcome { } }
        // The native side checks too: a stale id never reaches freed memory.
        assertFailsWith<HandleClosedException> { NativeLib.outgoingStatus(staleId) }
        assertFailsWith<HandleClosedException> { NativeLib.outgoingCancel(staleId) }
        assertFailsWith<HandleClosedException> { NativeLib.clientInvite(staleId + 1_000_000, "x", 0, null, null, 1000) }
        alice.close()
        assertFailsWith<HandleClosedException> { alice.inviteToConversation("bob") }
        assertFailsWith<HandleClosedException> { alice.connectionState }
        assertFailsWith<HandleClosedException> { alice.onInvite { } }
    }

    test("bad arguments and server refusals are typed exceptions") {
        connect(uid("alice")).use { alice ->
            assertEquals("participantId", assertFailsWith<InvalidArgumentException> { alice.inviteToConversation("") }.field)
            assertEquals("participantId", assertFailsWith<InvalidArgumentException> { alice.inviteToConversation("no spaces") }.field)
            assertEquals("lifetimeMs", assertFailsWith<InvalidArgumentException> { alice.inviteToConversation("bob", lifetime = (-1).milliseconds) }.field)
            assertEquals("lifetimeMs", assertFailsWith<InvalidArgumentException> { alice.inviteToConversation("bob", lifetime = Duration.ZERO) }.field)
            assertEquals("userData", assertFailsWith<InvalidArgumentException> { alice.inviteToConversation("bob", userData = "x".repeat(9000)) }.field)
        }
        assertEquals("url", assertFailsWith<InvalidArgumentException> { WilddogVideoClient.connect("http://127.0.0.1:1", "dev:a") }.field)
        assertEquals(
            "connectTimeoutMs",
            assertFailsWith<InvalidArgumentException> {
                WilddogVideoClient.connect(ClientOptions(Env.url, "dev:a").copy(connectTimeout = Duration.ZERO))
            }.field,
        )
        assertFailsWith<UnauthorizedException> { WilddogVideoClient.connect(Env.url, "not-a-token") }
        val closedPort = ServerSocket(0).use { it.localPort }
        val refused = assertFailsWith<NetworkException> {
            WilddogVideoClient.connect(ClientOptions("ws://127.0.0.1:$closedPort", "dev:a").copy(connectTimeout = 2.seconds))
        }
        assertTrue(refused !is TlsException, "a refused TCP connection is not a TLS failure")
    }

    test("a native panic arrives as NativePanicException, and the JVM carries on") {
        val e = assertFailsWith<NativePanicException> { NativeLib.panicForTest() }
        assertTrue(e.message!!.contains("panicForTest"), e.message)
        assertIs<WilddogException>(e)
        connect(uid("alice")).use { assertEquals(ConnectionState.CONNECTED, it.connectionState) }
    }

    test("a throwing listener does not kill the event thread") {
        capturingListenerErrors { errors ->
            connect(uid("alice")).use { alice ->
                val other = CountDownLatch(1)
                alice.inviteToConversation(uid("nobody")).use { first ->
                    first.onFailed { throw IllegalStateException("listener throws on purpose") }
                    first.onFailed { other.countDown() }
                    other.awaitOrFail("the other listener of the same event")
                    val e = errors.takeOrFail("the reported exception")
                    assertEquals("listener throws on purpose", e.message)
                }
                val later = LinkedBlockingQueue<FailureReason>()
                alice.inviteToConversation(uid("nobody")).use { second ->
                    second.onFailed { later.put(it) }
                    assertEquals(FailureReason.OFFLINE, later.takeOrFail("a later event"))
                }
            }
        }
    }

    test("an exception escaping into the glue is cleared there; later events still arrive") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            bob.onInvite { it.closeWhenDone() }
            connect(a).use { alice ->
                val before = NativeDiagnostics.listenerExceptionCount()
                alice.inviteToConversation(b, lifetime = 300.milliseconds).use { invite ->
                    val sink = ThrowingSink()
                    // Replace the wrapper's sink with one that throws from every event.
                    invite.handle.use { NativeLib.outgoingSetSink(it, sink) }
                    val e = sink.reported.takeOrFail("the glue reporting the exception")
                    assertTrue(e.message!!.startsWith("sink throws on purpose"), e.message)
                    assertTrue(NativeDiagnostics.listenerExceptionCount() > before)
                }
                val later = LinkedBlockingQueue<FailureReason>()
                alice.inviteToConversation(uid("nobody")).use { second ->
                    second.onFailed { later.put(it) }
                    assertEquals(FailureReason.OFFLINE, later.takeOrFail("a later event on the same event thread"))
                }
            }
        }
    }

    test("a forgotten handle is freed by the Cleaner") {
        connect(uid("alice")).use { alice ->
            val freed = CountDownLatch(1)
            // In a separate function so no local keeps the invite reachable.
            fun forget() {
                val invite = alice.inviteToConversation(uid("nobody"))
                invite.handle.onFreed = { freed.countDown() }
            }
            forget()
            repeat(100) {
                System.gc()
                if (freed.await(100, TimeUnit.MILLISECONDS)) return@test
            }
            fail("the Cleaner did not free a forgotten invite")
        }
    }

    test("closing the client ends pending invites failed(network), events delivered") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val ringing = CountDownLatch(1)
            val outcomes = LinkedBlockingQueue<Outcome>()
            bob.onInvite { it.closeWhenDone() }
            val alice = connect(a)
            val invite = alice.inviteToConversation(b)
            invite.onRinging { ringing.countDown() }
            invite.onOutcome { outcomes.put(it) }
            ringing.awaitOrFail("ringing")
            alice.close()
            assertEquals(Outcome.Failed(FailureReason.NETWORK), outcomes.takeOrFail("failed(network)"))
            assertEquals(OutgoingStatus.FAILED, invite.status)
            assertFalse(invite.isClosed)
            invite.close()
        }
    }
}
