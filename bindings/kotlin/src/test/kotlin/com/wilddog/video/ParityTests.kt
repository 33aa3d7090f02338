package com.wilddog.video

import java.util.concurrent.Executor
import java.util.concurrent.LinkedBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertFalse
import kotlin.test.assertIs
import kotlin.test.assertNotEquals
import kotlin.test.assertNotNull
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds

/** A log record as a test sees it. */
data class Record(val level: LogLevel, val target: String, val message: String, val error: Throwable?)

/** Runs [body] with the log going to a queue at [level], then puts the settings back. */
fun <R> capturingLog(level: LogLevel, body: (LinkedBlockingQueue<Record>) -> R): R {
    val records = LinkedBlockingQueue<Record>()
    val savedSink = WilddogVideo.logSink
    val savedLevel = WilddogVideo.logLevel
    WilddogVideo.logSink = LogSink { l, target, message, error -> records.put(Record(l, target, message, error)) }
    WilddogVideo.logLevel = level
    try {
        return body(records)
    } finally {
        WilddogVideo.logLevel = savedLevel
        WilddogVideo.logSink = savedSink
    }
}

/** Takes records until one matches [predicate]; a timeout is a failure. */
fun LinkedBlockingQueue<Record>.awaitRecord(what: String, predicate: (Record) -> Boolean): Record {
    while (true) {
        val r = takeOrFail(what)
        if (predicate(r)) return r
    }
}

/** A glue sink without `reportError` whose every event throws. */
class SinkWithoutReportError {
    @Suppress("unused", "UNUSED_PARAMETER")
    fun onEvent(kind: Int, reason: Int, conversation: Long) {
        throw IllegalStateException("thrown where nothing can report it")
    }
}

fun registerParityTests() {
    test("connection state: CONNECTED first, RECONNECTING and CONNECTED with a new device after a lost link, DISCONNECTED last") {
        TcpProxy(Env.url).use { proxy ->
            val options = ClientOptions(proxy.url, "dev:" + uid("alice"))
                .copy(reconnectMin = 10.milliseconds, reconnectMax = 100.milliseconds)
            WilddogVideoClient.connect(options).use { client ->
                val states = LinkedBlockingQueue<ConnectionState>()
                client.onConnectionStateChanged { states.put(it) }
                assertEquals(ConnectionState.CONNECTED, states.takeOrFail("the current state"))
                val firstDevice = client.device
                proxy.cutAll()
                assertEquals(ConnectionState.RECONNECTING, states.takeOrFail("reconnecting"))
                assertEquals(ConnectionState.CONNECTED, states.takeOrFail("connected again"))
                assertNotEquals(firstDevice, client.device, "the device id after a reconnection")
                assertEquals(ConnectionState.CONNECTED, client.connectionState)
                assertTrue(client.isKeptAlive)
                client.disconnect()
                assertEquals(ConnectionState.DISCONNECTED, client.connectionState)
                assertEquals(ConnectionState.DISCONNECTED, states.takeOrFail("disconnected"))
                client.disconnect()
                assertFailsWith<NotConnectedException> { client.inviteToConversation(uid("bob")) }
                eventually("the client let go after its last event") { !client.isKeptAlive }
                // A listener added now hears the last state.
                val late = LinkedBlockingQueue<ConnectionState>()
                client.onConnectionStateChanged { late.put(it) }
                assertEquals(ConnectionState.DISCONNECTED, late.takeOrFail("the last state, for a late listener"))
            }
        }
    }

    test("close(): connection listeners hear DISCONNECTED last; listening after close is refused") {
        val client = connect(uid("alice"))
        val states = LinkedBlockingQueue<ConnectionState>()
        client.onConnectionStateChanged { states.put(it) }
        assertEquals(ConnectionState.CONNECTED, states.takeOrFail("connected"))
        client.close()
        assertEquals(ConnectionState.DISCONNECTED, states.takeOrFail("disconnected on close"))
        assertFailsWith<HandleClosedException> { client.onInvite { } }
        assertFailsWith<HandleClosedException> { client.device }
    }

    test("subscriptions: a removed listener hears nothing more; invites wait for the next invite listener") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            connect(a).use { alice ->
                val first = LinkedBlockingQueue<IncomingInvite>()
                val second = LinkedBlockingQueue<IncomingInvite>()
                val firstSub = bob.onInvite { first.put(it) }
                val secondSub = bob.onInvite { second.put(it) }
                alice.inviteToConversation(b).use { one ->
                    val heardByFirst = first.takeOrFail("invite 1, first listener")
                    assertSame(heardByFirst, second.takeOrFail("invite 1, second listener"), "one object per invite")
                    assertEquals(one.conversationId, heardByFirst.conversationId)
                    heardByFirst.close()
                }
                firstSub.close()
                alice.inviteToConversation(b).use { two ->
                    assertEquals(two.conversationId, second.takeOrFail("invite 2, second listener").also { it.close() }.conversationId)
                    assertNull(first.poll(), "a removed listener heard an invite")
                }
                secondSub.close()
                assertFalse(bob.isKeptAlive, "no invite listener left, the glue holds nothing of bob")
                alice.inviteToConversation(b).use { three ->
                    val ringing = LinkedBlockingQueue<Unit>()
                    three.onRinging { ringing.put(Unit) }
                    ringing.takeOrFail("ringing: bob's client has invite 3")
                    val third = LinkedBlockingQueue<IncomingInvite>()
                    bob.onInvite { third.put(it) }
                    assertEquals(three.conversationId, third.takeOrFail("invite 3, waiting for a listener").also { it.close() }.conversationId)
                }
            }
        }
    }

    test("subscriptions: a listener removed while its event is on its way does not hear it") {
        val tasks = LinkedBlockingQueue<Runnable>()
        connect(uid("alice"), Executor { tasks.put(it) }).use { alice ->
            alice.inviteToConversation(uid("nobody")).use { invite ->
                val heard = LinkedBlockingQueue<Outcome>()
                val subscription = invite.onOutcome { heard.put(it) }
                val delivery = tasks.takeOrFail("the outcome's delivery, queued on the executor")
                subscription.close()
                delivery.run()
                assertNull(heard.poll(), "the removed listener heard the outcome")
                // The outcome is kept: a new listener hears it.
                invite.onOutcome { heard.put(it) }
                tasks.takeOrFail("the replay's delivery").run()
                assertEquals(Outcome.Failed(FailureReason.OFFLINE), heard.takeOrFail("the replayed outcome"))
            }
        }
    }

    test("default executor: listeners run on one SDK thread, wilddog-video-events, not the SDK's own") {
        connect(uid("alice")).use { alice ->
            val threads = LinkedBlockingQueue<String>()
            alice.inviteToConversation(uid("nobody")).use { invite ->
                invite.onOutcome { threads.put(Thread.currentThread().name) }
                assertEquals(WilddogVideo.EVENT_THREAD_NAME, threads.takeOrFail("the listener's thread"))
            }
        }
    }

    test("manual dispatch: listeners run inside dispatch() on the calling thread; other modes refuse it") {
        val here = Thread.currentThread().name
        val options = ClientOptions(Env.url, "dev:" + uid("alice")).copy(dispatch = Dispatch.MANUAL)
        WilddogVideoClient.connect(options, Executor { it.run() }).use { client ->
            val threads = LinkedBlockingQueue<String>()
            client.inviteToConversation(uid("nobody")).use { invite ->
                invite.onOutcome { threads.put(Thread.currentThread().name) }
                var handled = 0
                eventually("the outcome, dispatched here") {
                    handled += client.dispatch(50.milliseconds)
                    threads.isNotEmpty()
                }
                assertEquals(here, threads.take())
                assertTrue(handled > 0)
            }
        }
        connect(uid("alice")).use { client ->
            assertEquals(ObjectState.THREAD_DISPATCH, assertFailsWith<InvalidStateException> { client.dispatch() }.state)
        }
    }

    test("logs: the SDK's records reach the log sink at the level asked for") {
        capturingLog(LogLevel.INFO) { records ->
            val u = uid("alice")
            connect(u).close()
            val r = records.awaitRecord("the SDK's 'connected' record") {
                it.level == LogLevel.INFO && it.message.contains("connected") && it.message.contains(u)
            }
            assertTrue(r.target.startsWith("wilddog_video::"), r.target)
        }
        capturingLog(LogLevel.WARN) { records ->
            connect(uid("alice")).close()
            // Nothing at INFO when the level is WARN: the next record is one we make.
            WilddogVideo.log(LogLevel.WARN, "test", "marker", null)
            assertEquals("marker", records.awaitRecord("the marker") { it.target == "test" || it.level == LogLevel.INFO }.message)
        }
    }

    test("logs: a listener's exception and the glue's own failures reach the log sink") {
        capturingLog(LogLevel.WARN) { records ->
            connect(uid("alice")).use { alice ->
                // The default handler logs what a listener throws, with the exception.
                alice.inviteToConversation(uid("nobody")).use { invite ->
                    invite.onOutcome { throw IllegalStateException("listener throws on purpose") }
                    val r = records.awaitRecord("the listener's exception") { it.target == WilddogVideo.LOG_TARGET }
                    assertEquals(LogLevel.ERROR, r.level)
                    assertEquals("listener throws on purpose", r.error?.message)
                }
                // A sink the glue cannot report to (as after a shrinker removed
                // reportError): the glue logs instead of printing to stderr.
                alice.inviteToConversation(uid("nobody")).use { invite ->
                    invite.handle.use { NativeLib.outgoingSetSink(it, SinkWithoutReportError()) }
                    val r = records.awaitRecord("the glue's record") { it.target == "wilddog_video::jni" }
                    assertEquals(LogLevel.ERROR, r.level)
                    assertTrue(r.message.contains("reportError"), r.message)
                }
            }
        }
    }

    test("version: the native library's is the header's WD_VERSION") {
        val header = Env.header.readText()
        fun part(name: String) = Regex("""#define WD_VERSION_$name (\d+)""").find(header)?.groupValues?.get(1)
            ?: error("WD_VERSION_$name not in the header")
        assertEquals("${part("MAJOR")}.${part("MINOR")}.${part("PATCH")}", WilddogVideo.version)
    }

    test("exceptions: the glue's kinds match NativeErrors; each makes its class, with the cause") {
        val rust = Env.root.resolve("bindings/kotlin/native/src/errors.rs").readText()
        val body = Regex("""enum Kind \{(.*?)\n\}""", RegexOption.DOT_MATCHES_ALL).find(rust)?.groupValues?.get(1)
            ?: error("enum Kind not found in errors.rs")
        val kinds = Regex("""\n\s*(\w+) = (\d+),""").findAll(body)
            .associate { m -> m.groupValues[1].replace(Regex("([a-z])([A-Z])"), "$1_$2").uppercase() to m.groupValues[2].toInt() }
        val kotlin = NativeErrors::class.java.declaredFields
            .filter { java.lang.reflect.Modifier.isStatic(it.modifiers) && it.type == Int::class.javaPrimitiveType }
            .associate { it.name to it.getInt(null) }
        assertEquals(kinds.toSortedMap(), kotlin.toSortedMap(), "errors.rs Kind vs NativeErrors")
        val cause = IllegalStateException("the JVM's")
        val made = mapOf(
            NativeErrors.INVALID_ARGUMENT to InvalidArgumentException::class,
            NativeErrors.INVALID_STATE to InvalidStateException::class,
            NativeErrors.HANDLE_CLOSED to HandleClosedException::class,
            NativeErrors.NOT_CONNECTED to NotConnectedException::class,
            NativeErrors.UNAUTHORIZED to UnauthorizedException::class,
            NativeErrors.NETWORK to NetworkException::class,
            NativeErrors.TLS to TlsException::class,
            NativeErrors.PROTOCOL to ProtocolException::class,
            NativeErrors.PANIC to NativePanicException::class,
            NativeErrors.INTERNAL to InternalException::class,
        )
        for ((kind, type) in made) {
            val e = NativeErrors.create(kind, "accepted", "second", cause)
            assertEquals(type, e::class, "kind $kind")
            assertIs<WilddogException>(e)
        }
        assertSame(cause, NativeErrors.create(NativeErrors.INTERNAL, "JNI", "", cause).cause)
        assertSame(cause, NativeErrors.create(NativeErrors.NETWORK, "down", "", cause).cause)
        val state = assertIs<InvalidStateException>(NativeErrors.create(NativeErrors.INVALID_STATE, "rejecting", "m", null))
        assertEquals(ObjectState.REJECTING, state.state)
        assertEquals(ObjectState.UNKNOWN, assertIs<InvalidStateException>(NativeErrors.create(NativeErrors.INVALID_STATE, "new_state", "m", null)).state)
        assertIs<InternalException>(NativeErrors.create(99, "from a newer glue", "", null))
        // Every state the native side names is known here.
        val names = Regex("""status: "(\w+)"""").findAll(
            Env.root.resolve("src").walkTopDown().filter { it.extension == "rs" }.joinToString("\n") { it.readText() },
        ).map { it.groupValues[1] }.toSet()
        assertTrue(names.isNotEmpty())
        for (n in names) assertNotEquals(ObjectState.UNKNOWN, ObjectState.of(n), "status \"$n\" of the native side")
    }

    test("Android: the log sink and the main-looper executor find their classes by reflection") {
        assertFalse(Platform.isAndroid, "this JVM is not Android")
        val sink = assertNotNull(LogSinks.android(), "android.util.Log (the test's stand-in) was not found")
        sink.log(LogLevel.WARN, "wilddog_video::client::io", "connection lost", null)
        assertEquals(Triple(5, LogSinks.ANDROID_TAG, "wilddog_video::client::io: connection lost"), android.util.Log.calls.takeOrFail("Log.println"))
        sink.log(LogLevel.ERROR, "t", "m", IllegalStateException("boom"))
        val (priority, _, text) = android.util.Log.calls.takeOrFail("Log.println with a stack trace")
        assertEquals(6, priority)
        assertTrue(text.startsWith("t: m\njava.lang.IllegalStateException: boom"), text)
        val executor = assertNotNull(Platform.looperExecutor(), "android.os.Looper (the test's stand-in) was not found")
        val threads = LinkedBlockingQueue<String>()
        executor.execute { threads.put(Thread.currentThread().name) }
        assertEquals("main", threads.takeOrFail("a task posted to the main looper"))
    }
}
