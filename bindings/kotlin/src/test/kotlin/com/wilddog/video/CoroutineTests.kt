package com.wilddog.video

import com.wilddog.video.coroutines.acceptAndAwait
import com.wilddog.video.coroutines.awaitOutcome
import com.wilddog.video.coroutines.connect
import com.wilddog.video.coroutines.connectionStateFlow
import com.wilddog.video.coroutines.incomingInvites
import com.wilddog.video.coroutines.messages
import com.wilddog.video.coroutines.statusFlow
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.LinkedBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.CoroutineStart
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.async
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/** Runs [body] in a coroutine, bounded like every wait of the tests. */
fun coTest(name: String, body: suspend CoroutineScope.() -> Unit) = test(name) {
    runBlocking { withTimeout(WAIT_SECONDS.seconds * 3) { body() } }
}

fun registerCoroutineTests() {
    coTest("coroutines: connect suspends, and the connection's state is a StateFlow up to DISCONNECTED") {
        val client = WilddogVideo.connect(Env.url, "dev:" + uid("alice"))
        client.use {
            val flow = client.connectionStateFlow
            assertSame(flow, client.connectionStateFlow, "one flow per client")
            assertEquals(ConnectionState.CONNECTED, flow.value)
            launch(Dispatchers.IO) { client.disconnect() }
            assertEquals(ConnectionState.DISCONNECTED, flow.first { it == ConnectionState.DISCONNECTED })
        }
    }

    coTest("coroutines: a connect cancelled while it waits returns at once, and the late connection is closed") {
        TcpProxy(Env.url).use { proxy ->
            val gate = CountDownLatch(1)
            proxy.hold = gate
            val handles0 = NativeDiagnostics.liveHandleCount()
            val connecting = async(Dispatchers.Default, start = CoroutineStart.UNDISPATCHED) {
                WilddogVideo.connect(ClientOptions(proxy.url, "dev:" + uid("alice")), Executor { it.run() })
            }
            proxy.accepted.takeOrFail("the connection reaching the server's door")
            connecting.cancelAndJoin()
            assertTrue(connecting.isCancelled)
            // Let it through now: the connection succeeds natively, nobody wants it.
            gate.countDown()
            eventually("the unwanted client freed") { NativeDiagnostics.liveHandleCount() == handles0 }
        }
    }

    coTest("coroutines: awaitOutcome returns the outcome; acceptAndAwait the callee's") {
        val (a, b) = uid("alice") to uid("bob")
        val bob = WilddogVideo.connect(Env.url, "dev:$b")
        val alice = WilddogVideo.connect(Env.url, "dev:$a")
        try {
            val callee = async {
                val incoming = bob.incomingInvites.first()
                val status = incoming.statusFlow
                assertEquals(IncomingStatus.PENDING, status.value)
                val outcome = incoming.acceptAndAwait(answer = "v=0 answer")
                val seen = status.first { it == IncomingStatus.ACCEPTED }
                incoming.close()
                outcome to seen
            }
            val invite = alice.inviteToConversation(b)
            val outcome = assertIs<Outcome.Accepted>(invite.awaitOutcome())
            assertEquals(OutgoingStatus.ACCEPTED, invite.statusFlow.first { it != OutgoingStatus.PENDING })
            assertEquals("v=0 answer", invite.answer)
            val (calleeOutcome, calleeStatus) = callee.await()
            assertIs<IncomingOutcome.Accepted>(calleeOutcome)
            assertEquals(IncomingStatus.ACCEPTED, calleeStatus)
            // Already over: at once, the same outcome.
            assertEquals(outcome, invite.awaitOutcome())
            outcome.conversation.close()
            (calleeOutcome as IncomingOutcome.Accepted).conversation.close()
            invite.close()
        } finally {
            alice.close()
            bob.close()
        }
    }

    coTest("coroutines: cancelling awaitOutcome cancels the pending invite; the callee hears CALLER_CANCELED") {
        val (a, b) = uid("alice") to uid("bob")
        val bob = WilddogVideo.connect(Env.url, "dev:$b")
        val alice = WilddogVideo.connect(Env.url, "dev:$a")
        try {
            val incoming = LinkedBlockingQueue<IncomingInvite>()
            bob.onInvite { incoming.put(it) }
            val invite = alice.inviteToConversation(b)
            val waiting = launch(start = CoroutineStart.UNDISPATCHED) { invite.awaitOutcome() }
            val callee = incoming.takeOrFail("bob's invite")
            assertEquals(OutgoingStatus.PENDING, invite.status)
            waiting.cancelAndJoin()
            assertEquals(OutgoingStatus.CANCELED, invite.status)
            assertEquals(CancelReason.CALLER_CANCELED, invite.cancelReason)
            assertEquals(IncomingOutcome.Canceled(CancelReason.CALLER_CANCELED), callee.awaitOutcome())
            assertEquals(IncomingStatus.CANCELED, callee.statusFlow.value)
            callee.close()
            invite.close()
        } finally {
            alice.close()
            bob.close()
        }
    }

    coTest("coroutines: incomingInvites and messages are Flows; cancelling the collection removes the listener") {
        val (a, b) = uid("alice") to uid("bob")
        val bob = WilddogVideo.connect(Env.url, "dev:$b")
        val alice = WilddogVideo.connect(Env.url, "dev:$a")
        try {
            val bobSide = async {
                val incoming = bob.incomingInvites.first()
                val outcome = assertIs<IncomingOutcome.Accepted>(incoming.acceptAndAwait())
                incoming.close()
                outcome.conversation
            }
            val mine = assertIs<Outcome.Accepted>(alice.inviteToConversation(b).awaitOutcome()).conversation
            val theirs = bobSide.await()
            assertFalse(bob.isKeptAlive, "the flow's invite listener is gone once its collection ended")
            val got = async { theirs.messages.take(3).toList() }
            for (i in 1..3) mine.send("m$i")
            assertEquals(listOf("m1", "m2", "m3"), got.await().map { it.payload })
            assertEquals(Participant(a, alice.device), got.await().first().from)
            // The flow ends when this device leaves: here when everyone else left.
            val rest = async { theirs.messages.toList() }
            mine.send("last")
            mine.disconnect()
            assertEquals(listOf("last"), rest.await().map { it.payload })
            mine.close()
            theirs.close()
        } finally {
            alice.close()
            bob.close()
        }
    }
}
