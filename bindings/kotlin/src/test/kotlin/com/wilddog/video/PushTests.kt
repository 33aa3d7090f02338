package com.wilddog.video

import com.wilddog.video.coroutines.awaitConfirmed
import com.wilddog.video.coroutines.awaitOutcome
import com.wilddog.video.coroutines.pushEvents
import java.net.ServerSocket
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds
import kotlinx.coroutines.flow.first

/** The app id the tests register push keys under. */
const val PUSH_APP = "com.wilddog.test.android"

/** A push key no other test (or earlier run) uses. */
fun pushKey(base: String): String = uid("token-$base")

/**
 * Registers [key] for [user] from a client that then goes away, as an app does
 * before it goes to the background: invites to [user] then wake the device by
 * push. Waits for the server's `Registered`.
 */
fun registerAndLeave(user: String, key: String) {
    connect(user).use { phone ->
        val events = LinkedBlockingQueue<PushEvent>()
        phone.onPushEvent { events.put(it) }
        phone.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, key))
        assertEquals(PushEvent.Registered(PUSH_APP, key), events.takeOrFail("Registered"))
    }
}

/** A client of [user] made with start, as an app woken by a push makes it. */
fun wake(user: String): WilddogVideoClient = WilddogVideo.start(ClientOptions(Env.url, "dev:$user"))

/** Counts the outcomes [invite] hears, and proves it heard exactly one (a late listener is the barrier). */
class OutcomeCount(private val invite: IncomingInvite) {
    private val heard = LinkedBlockingQueue<IncomingOutcome>()
    private val count = AtomicInteger()

    init {
        invite.onOutcome {
            count.incrementAndGet()
            heard.put(it)
        }
    }

    /** The first outcome, waited for. */
    fun take(): IncomingOutcome = heard.takeOrFail("the invite's outcome")

    /** After [take]: every delivery before a late listener's is done, and there was one. */
    fun assertOnce() {
        val late = CountDownLatch(1)
        invite.onOutcome { late.countDown() }
        late.awaitOrFail("a late outcome listener")
        assertEquals(1, count.get(), "outcome events")
        assertNull(heard.poll(), "a second outcome")
    }
}

fun registerPushTests() {
    test("start: returns before any network; uid is known once connected; registerPush before connecting is sent then") {
        TcpProxy(Env.url).use { proxy ->
            val gate = CountDownLatch(1)
            proxy.hold = gate
            val user = uid("bob")
            val key = pushKey("early")
            WilddogVideo.start(ClientOptions(proxy.url, "dev:$user")).use { client ->
                val states = LinkedBlockingQueue<ConnectionState>()
                val events = LinkedBlockingQueue<PushEvent>()
                client.onConnectionStateChanged { states.put(it) }
                client.onPushEvent { events.put(it) }
                proxy.accepted.takeOrFail("the connection reaching the proxy")
                assertEquals(ConnectionState.CONNECTING, client.connectionState)
                assertEquals(ObjectState.NOT_YET_CONNECTED, assertFailsWith<InvalidStateException> { client.uid }.state)
                assertEquals(ObjectState.NOT_YET_CONNECTED, assertFailsWith<InvalidStateException> { client.device }.state)
                assertTrue(client.toString().contains("uid=?"), client.toString())
                assertFailsWith<NotConnectedException> { client.inviteToConversation(uid("alice")) }
                client.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, key))
                assertEquals(ConnectionState.CONNECTING, states.takeOrFail("the current state"))
                gate.countDown()
                assertEquals(ConnectionState.CONNECTED, states.takeOrFail("connected"))
                assertEquals(PushEvent.Registered(PUSH_APP, key), events.takeOrFail("Registered, once connected"))
                assertEquals(user, client.uid)
                client.unregisterPush(PUSH_APP, key)
                assertEquals(PushEvent.Unregistered(PUSH_APP, key), events.takeOrFail("Unregistered"))
                client.close()
                assertEquals(user, client.uid, "the uid stays readable after close")
            }
        }
    }

    test("start: a bad option throws; an unreachable server is a state, DISCONNECTED with reconnect off") {
        val user = uid("bob")
        assertEquals(
            "heartbeatMs",
            assertFailsWith<InvalidArgumentException> {
                WilddogVideo.start(ClientOptions(Env.url, "dev:$user").copy(heartbeat = 0.milliseconds)).close()
            }.field,
        )
        val dead = ServerSocket(0).use { it.localPort }
        WilddogVideo.start(ClientOptions("ws://127.0.0.1:$dead", "dev:$user").copy(reconnect = false)).use { client ->
            val states = LinkedBlockingQueue<ConnectionState>()
            client.onConnectionStateChanged { states.put(it) }
            while (true) {
                if (states.takeOrFail("DISCONNECTED") == ConnectionState.DISCONNECTED) break
            }
            eventually("the client let go after DISCONNECTED") { !client.isKeptAlive }
        }
    }

    test("registerPush: a bad field is an InvalidArgumentException naming it; nothing is registered") {
        connect(uid("bob")).use { client ->
            val events = LinkedBlockingQueue<PushEvent>()
            client.onPushEvent { events.put(it) }
            fun field(block: () -> Unit) = assertFailsWith<InvalidArgumentException> { block() }.field
            val key = pushKey("good")
            assertEquals("appId", field { client.registerPush(PushRegistration(PushProvider.FCM, "", key)) })
            assertEquals("pushKey", field { client.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, "")) })
            assertEquals("pushKey", field { client.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, "k".repeat(513))) })
            assertEquals("appId", field { client.registerPush(PushRegistration(PushProvider.FCM, "a\nb", key)) })
            assertEquals(
                "data",
                field { client.registerPush(PushRegistration(PushProvider.WEBPUSH, PUSH_APP, key, mapOf("endpoint" to "e".repeat(3000)))) },
            )
            assertEquals("appId", field { client.unregisterPush("", key) })
            // Only the good registration is answered.
            client.registerPush(PushRegistration(PushProvider.WEBPUSH, PUSH_APP, key, mapOf("endpoint" to "https://push.example/x", "auth" to "a1")))
            assertEquals(PushEvent.Registered(PUSH_APP, key), events.takeOrFail("Registered"))
        }
    }

    test("registerPush: a server without a push gateway refuses it: RegistrationFailed with why") {
        val url = Tls.url ?: error("-Dwilddog.test.tls.url is required")
        val options = ClientOptions(listOf(url), "dev:" + uid("bob"), caFile = Tls.ca)
        WilddogVideoClient.connect(options).use { client ->
            val events = LinkedBlockingQueue<PushEvent>()
            client.onPushEvent { events.put(it) }
            val key = pushKey("nowhere")
            client.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, key))
            val failed = assertIs<PushEvent.RegistrationFailed>(events.takeOrFail("RegistrationFailed"))
            assertEquals(PUSH_APP to key, failed.appId to failed.pushKey)
            assertTrue(failed.message.contains("push gateway"), failed.message)
        }
    }

    test("push: a device with only a registration is woken: handlePush gives the invite at once; accept; both sides accepted") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("main")
        registerAndLeave(b, key)
        connect(a).use { alice ->
            val outcomes = LinkedBlockingQueue<Outcome>()
            alice.inviteToConversation(b, userData = "Video call from Alice", offer = "v=0 offer").use { invite ->
                invite.onOutcome { outcomes.put(it) }
                val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                assertEquals(OutgoingStatus.PENDING, invite.status, "not offline: the push counts as delivered")
                wake(b).use { bob ->
                    val viaSocket = LinkedBlockingQueue<IncomingInvite>()
                    bob.onInvite { viaSocket.put(it) }
                    val incoming = bob.handlePush(push.fcmData)
                    // Readable at once, from the push alone.
                    assertEquals(a, incoming.from)
                    assertEquals(invite.conversationId, incoming.conversationId)
                    assertEquals(Mode.P2P, incoming.mode)
                    assertEquals("Video call from Alice", incoming.userData)
                    assertEquals(IncomingStatus.PENDING, incoming.status)
                    assertSame(incoming, bob.handlePush(push.fcmData), "the same push again: the same invite")
                    val order = LinkedBlockingQueue<String>()
                    incoming.onConfirmed { order.put("confirmed") }
                    incoming.onAccepted { order.put("accepted") }
                    val count = OutcomeCount(incoming)
                    incoming.accept(answer = "v=0 answer")   // very likely before the fetch: held until then
                    val outcome = assertIs<Outcome.Accepted>(outcomes.takeOrFail("the caller's outcome"))
                    assertEquals("v=0 answer", invite.answer)
                    val mine = assertIs<IncomingOutcome.Accepted>(count.take())
                    count.assertOnce()
                    assertEquals(listOf("confirmed", "accepted"), listOf(order.takeOrFail("confirmed"), order.takeOrFail("accepted")))
                    assertTrue(incoming.isConfirmed)
                    assertEquals("v=0 offer", incoming.offer, "the offer, fetched")
                    assertEquals(IncomingStatus.ACCEPTED, incoming.status)
                    assertSame(mine.conversation, incoming.conversation)
                    assertEquals(invite.conversationId, mine.conversation.conversationId)
                    assertEquals(listOf(a), mine.conversation.participants.map { it.uid })
                    assertEquals(b, bob.uid)
                    assertNull(viaSocket.poll(), "onInvite heard an invite a push made first")
                    mine.conversation.close()
                    outcome.conversation.close()
                    incoming.close()
                }
            }
        }
    }

    test("push: canceled while waking: PENDING from the push, then CANCELED(CALLER_CANCELED) once, never confirmed") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("canceled")
        registerAndLeave(b, key)
        connect(a).use { alice ->
            alice.inviteToConversation(b).use { invite ->
                val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                invite.cancel()
                // The server has recorded the end once it pushed invite_ended.
                PushGateway.awaitPush(key, "wd.invite_ended") { it.conversationId == invite.conversationId }
                wake(b).use { bob ->
                    val incoming = bob.handlePush(push.fcmData)
                    assertEquals(IncomingStatus.PENDING, incoming.status)
                    val confirmed = AtomicInteger()
                    incoming.onConfirmed { confirmed.incrementAndGet() }
                    val count = OutcomeCount(incoming)
                    assertEquals(IncomingOutcome.Canceled(CancelReason.CALLER_CANCELED), count.take())
                    count.assertOnce()
                    assertEquals(IncomingStatus.CANCELED, incoming.status)
                    assertEquals(CancelReason.CALLER_CANCELED, incoming.cancelReason)
                    assertFalse(incoming.isConfirmed)
                    assertEquals(0, confirmed.get(), "confirmed, for an invite that had ended")
                    assertFailsWith<InvalidStateException> { incoming.accept() }
                    incoming.close()
                }
            }
        }
    }

    test("push: answered on another device while waking: CANCELED(ANSWERED_ELSEWHERE) once, never confirmed") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("elsewhere")
        registerAndLeave(b, key)   // bob's phone, asleep
        connect(b).use { laptop ->
            val onLaptop = LinkedBlockingQueue<IncomingInvite>()
            laptop.onInvite { onLaptop.put(it) }
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val accepted = LinkedBlockingQueue<Conversation>()
                    invite.onAccepted { accepted.put(it) }
                    val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                    // The laptop answers before the phone has woken.
                    val answered = onLaptop.takeOrFail("the invite on the laptop")
                    answered.accept()
                    val conversation = accepted.takeOrFail("the caller's accepted")
                    wake(b).use { phone ->
                        val incoming = phone.handlePush(push.fcmData)
                        assertEquals(a, incoming.from, "readable at once, from the push alone")
                        val confirmed = AtomicInteger()
                        incoming.onConfirmed { confirmed.incrementAndGet() }
                        val count = OutcomeCount(incoming)
                        assertEquals(IncomingOutcome.Canceled(CancelReason.ANSWERED_ELSEWHERE), count.take())
                        count.assertOnce()
                        assertEquals(IncomingStatus.CANCELED, incoming.status)
                        assertEquals(CancelReason.ANSWERED_ELSEWHERE, incoming.cancelReason)
                        assertFalse(incoming.isConfirmed)
                        assertEquals(0, confirmed.get(), "confirmed, for an invite answered elsewhere")
                        assertNull(incoming.conversation)
                        assertFailsWith<InvalidStateException> { incoming.reject() }
                        assertEquals(IncomingStatus.ACCEPTED, answered.status, "the laptop's call goes on")
                        incoming.close()
                    }
                    conversation.close()
                    answered.conversation?.close()
                    answered.close()
                }
            }
        }
    }

    test("push: expired while waking: PENDING from the push, then FAILED(TIMEOUT) once") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("expired")
        registerAndLeave(b, key)
        connect(a).use { alice ->
            alice.inviteToConversation(b, lifetime = 300.milliseconds).use { invite ->
                val failed = LinkedBlockingQueue<FailureReason>()
                invite.onFailed { failed.put(it) }
                val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                assertEquals(FailureReason.TIMEOUT, failed.takeOrFail("the caller's timeout"))
                wake(b).use { bob ->
                    val incoming = bob.handlePush(push.fcmData)
                    assertEquals(a, incoming.from)
                    val count = OutcomeCount(incoming)
                    assertEquals(IncomingOutcome.Failed(FailureReason.TIMEOUT), count.take())
                    count.assertOnce()
                    assertEquals(IncomingStatus.FAILED, incoming.status)
                    assertEquals(FailureReason.TIMEOUT, incoming.failureReason)
                    assertFalse(incoming.isConfirmed)
                    assertFailsWith<InvalidStateException> { incoming.accept() }
                    incoming.close()
                }
            }
        }
    }

    test("push: the invite_ended push of a call missed while asleep gives an ended invite (a missed call)") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("missed")
        registerAndLeave(b, key)
        connect(a).use { alice ->
            alice.inviteToConversation(b, lifetime = 300.milliseconds).use { invite ->
                val failed = LinkedBlockingQueue<FailureReason>()
                invite.onFailed { failed.put(it) }
                assertEquals(FailureReason.TIMEOUT, failed.takeOrFail("the caller's timeout"))
                val ended = PushGateway.awaitPush(key, "wd.invite_ended") { it.conversationId == invite.conversationId }
                wake(b).use { bob ->
                    val incoming = bob.handlePush(ended.fcmData)
                    assertEquals(IncomingStatus.FAILED, incoming.status, "ended at once, from the push alone")
                    assertEquals(FailureReason.TIMEOUT, incoming.failureReason)
                    assertEquals(a, incoming.from)
                    assertEquals(invite.conversationId, incoming.conversationId)
                    val count = OutcomeCount(incoming)
                    assertEquals(IncomingOutcome.Failed(FailureReason.TIMEOUT), count.take())
                    count.assertOnce()
                    incoming.close()
                }
            }
        }
    }

    test("push: one invite by push and over the connection is one IncomingInvite, with one set of events") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("twice")
        registerAndLeave(b, key)   // bob's phone, asleep
        connect(b).use { laptop ->
            val viaSocket = LinkedBlockingQueue<IncomingInvite>()
            laptop.onInvite { viaSocket.put(it) }
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val accepted = LinkedBlockingQueue<Conversation>()
                    invite.onAccepted { accepted.put(it) }
                    val delivered = viaSocket.takeOrFail("the invite over the connection")
                    val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                    assertSame(delivered, laptop.handlePush(push.fcmData))
                    assertTrue(delivered.isConfirmed)
                    val confirmed = CountDownLatch(1)
                    delivered.onConfirmed { confirmed.countDown() }
                    confirmed.awaitOrFail("onConfirmed, at once for an invite over the connection")
                    val count = OutcomeCount(delivered)
                    delivered.accept()
                    val mine = assertIs<IncomingOutcome.Accepted>(count.take())
                    count.assertOnce()
                    accepted.takeOrFail("the caller's accepted").close()
                    mine.conversation.close()
                    assertNull(viaSocket.poll(), "the invite was delivered twice")
                    delivered.close()
                }
            }
        }
    }

    test("push: a payload that is not one of ours is an InvalidArgumentException; nothing changes") {
        val b = uid("bob")
        connect(b).use { bob ->
            val invites = LinkedBlockingQueue<IncomingInvite>()
            bob.onInvite { invites.put(it) }
            val live = bob.liveCount()
            fun bad(payload: String) = assertFailsWith<InvalidArgumentException> { bob.handlePush(payload) }
            bad("not json")
            bad("[]")
            bad("{}")
            bad("""{"title":"hello","body":"an app's own notification"}""")
            bad("{\"wd_push\":\"" + "x".repeat(100_000) + "\"}")
            val invite = """{"wd":1,"type":"invite","invite_id":"i-1","conversation_id":"c-1","from":"%s","device":"d1","mode":"p2p","time_left_ms":30000,"sent_at_ms":0}"""
            assertEquals("wd", bad(invite.format("someone").replace("\"wd\":1", "\"wd\":2")).field)
            assertEquals("from", bad(invite.format(b)).field, "an invite from this very user")
            assertFailsWith<InvalidArgumentException> { bob.handlePush(mapOf("title" to "hello")) }
            assertEquals(live, bob.liveCount(), "invites the client tracks")
            assertNull(invites.poll())
            bob.close()
            assertFailsWith<HandleClosedException> { bob.handlePush(invite.format("someone")) }
        }
    }

    test("push: a key the gateway rejects is dropped, and the device holding it hears Rejected") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("dead")
        PushGateway.reject(key)
        connect(b).use { current ->
            val events = LinkedBlockingQueue<PushEvent>()
            current.onPushEvent { events.put(it) }
            current.onInvite { it.closeWhenDone().reject() }
            current.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, key))
            assertEquals(PushEvent.Registered(PUSH_APP, key), events.takeOrFail("Registered"))
            // A stale client that registered the same token, now gone: the key is pushed to.
            registerAndLeave(b, key)
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    assertEquals(PushEvent.Rejected(PUSH_APP, key), events.takeOrFail("Rejected"))
                    assertTrue(PushGateway.pushes(key, "wd.invite").single { it.conversationId == invite.conversationId }.rejected)
                }
            }
        }
    }

    test("push: handlePush wakes a DISCONNECTED client; its listeners hear it connect, and the call is answered") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("revive")
        registerAndLeave(b, key)
        connect(b).use { bob ->
            val states = LinkedBlockingQueue<ConnectionState>()
            bob.onConnectionStateChanged { states.put(it) }
            assertEquals(ConnectionState.CONNECTED, states.takeOrFail("connected"))
            bob.disconnect()
            assertEquals(ConnectionState.DISCONNECTED, states.takeOrFail("disconnected"))
            eventually("the client let go after DISCONNECTED") { !bob.isKeptAlive }
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val accepted = LinkedBlockingQueue<Conversation>()
                    invite.onAccepted { accepted.put(it) }
                    val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                    val incoming = bob.handlePush(push.fcmData)
                    while (true) {
                        if (states.takeOrFail("connected again") == ConnectionState.CONNECTED) break
                    }
                    val count = OutcomeCount(incoming)
                    incoming.accept()
                    val mine = assertIs<IncomingOutcome.Accepted>(count.take())
                    accepted.takeOrFail("the caller's accepted").close()
                    mine.conversation.close()
                    incoming.close()
                }
            }
        }
    }

    test("push: handlePush before the client's DISCONNECTED was delivered: its listeners stay; the next DISCONNECTED lets go") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("undelivered")
        registerAndLeave(b, key)
        // Manual dispatch holds the DISCONNECTED back until the push was handled.
        val options = ClientOptions(Env.url, "dev:$b").copy(dispatch = Dispatch.MANUAL)
        WilddogVideoClient.connect(options, Executor { it.run() }).use { bob ->
            val states = LinkedBlockingQueue<ConnectionState>()
            bob.onConnectionStateChanged { states.put(it) }
            fun next(what: String): ConnectionState {
                var state: ConnectionState? = null
                eventually(what) {
                    bob.dispatch(50.milliseconds)
                    state = states.poll()
                    state != null
                }
                return state!!
            }
            assertEquals(ConnectionState.CONNECTED, next("the current state"))
            bob.disconnect()
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val push = PushGateway.awaitPush(key) { it.conversationId == invite.conversationId }
                    val incoming = bob.handlePush(push.fcmData)
                    val confirmed = CountDownLatch(1)
                    incoming.onConfirmed { confirmed.countDown() }
                    assertEquals(ConnectionState.DISCONNECTED, next("the DISCONNECTED held back"))
                    while (next("connected again") != ConnectionState.CONNECTED) continue
                    eventually("the invite confirmed by the woken client") {
                        bob.dispatch(50.milliseconds)
                        confirmed.count == 0L
                    }
                    assertTrue(bob.isKeptAlive, "the woken client's sinks")
                    incoming.close()
                }
            }
            bob.disconnect()
            assertEquals(ConnectionState.DISCONNECTED, next("disconnected again"))
            eventually("the client let go after its last DISCONNECTED") { !bob.isKeptAlive }
        }
    }

    coTest("coroutines: pushEvents is a Flow; awaitConfirmed is true once fetched, false for an invite that had ended") {
        val (a, b) = uid("alice") to uid("bob")
        val key = pushKey("flow")
        connect(b).use { phone ->
            phone.registerPush(PushRegistration(PushProvider.FCM, PUSH_APP, key))
            assertEquals(PushEvent.Registered(PUSH_APP, key), phone.pushEvents.first())
        }
        connect(a).use { alice ->
            val first = alice.inviteToConversation(b, offer = "v=0 offer")
            val second = alice.inviteToConversation(b)
            val pushes = listOf(first, second).map { inv ->
                PushGateway.awaitPush(key) { it.conversationId == inv.conversationId }
            }
            second.cancel()
            PushGateway.awaitPush(key, "wd.invite_ended") { it.conversationId == second.conversationId }
            wake(b).use { bob ->
                val ringing = bob.handlePush(pushes[0].fcmData)
                val ended = bob.handlePush(pushes[1].fcmData)
                assertTrue(ringing.awaitConfirmed())
                assertEquals("v=0 offer", ringing.offer)
                assertTrue(ringing.awaitConfirmed(), "at once, once confirmed")
                assertFalse(ended.awaitConfirmed())
                assertEquals(IncomingOutcome.Canceled(CancelReason.CALLER_CANCELED), ended.awaitOutcome())
                ringing.reject()
                assertEquals(Outcome.Rejected(RejectReason.DECLINED), first.awaitOutcome())
                ringing.close()
                ended.close()
            }
            first.close()
            second.close()
        }
    }
}
