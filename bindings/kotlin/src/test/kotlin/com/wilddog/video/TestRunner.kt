package com.wilddog.video

import java.io.File
import java.lang.ref.WeakReference
import java.util.concurrent.BlockingQueue
import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.locks.LockSupport
import kotlin.system.exitProcess
import kotlin.test.fail

// A small test runner (no JUnit: this machine has no Maven Central). Tests
// register with `test(name) { ... }`, use kotlin.test assertions, and wait only
// with bounded waits (`awaitOrFail`, `takeOrFail`, `eventually`): a timeout is
// a failure, never a sleep.

/** Upper bound of every wait in the tests. */
const val WAIT_SECONDS = 10L

/** Settings run-tests.sh passes as system properties. */
object Env {
    val url: String = System.getProperty("wilddog.test.url") ?: error("-Dwilddog.test.url=ws://… is required")

    /** The test push gateway [url]'s server pushes through (tests/support/push_gateway.py). */
    val gateway: String by lazy {
        System.getProperty("wilddog.test.gateway") ?: error("-Dwilddog.test.gateway=http://… is required")
    }
    val header: File = File(System.getProperty("wilddog.video.header") ?: "include/wilddog_video.h")
    val root: File = File(System.getProperty("wilddog.test.root") ?: ".")
    val mainJar: File? = System.getProperty("wilddog.test.main.jar")?.let(::File)
}

class TestCase(val name: String, val body: () -> Unit)

private val registered = ArrayList<TestCase>()

/** Registers a test. */
fun test(name: String, body: () -> Unit) {
    registered += TestCase(name, body)
}

private val uidCounter = AtomicInteger()
private val runId = java.lang.Long.toString(System.nanoTime() % 1_000_000_007L, 36)

/** A user id no other test (or earlier run against the same server) uses. */
fun uid(base: String): String = "kt-$base-$runId-${uidCounter.incrementAndGet()}"

/** Connects as [uid] with a dev token. */
fun connect(uid: String, executor: Executor? = null): WilddogVideoClient =
    WilddogVideoClient.connect(Env.url, "dev:$uid", executor)

/** Waits (polling, bounded) until [condition] holds; a timeout is a failure. */
fun eventually(what: String, condition: () -> Boolean) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS)
    while (!condition()) {
        if (System.nanoTime() > deadline) fail("timed out after ${WAIT_SECONDS}s waiting for $what")
        LockSupport.parkNanos(1_000_000)
    }
}

/**
 * Runs the garbage collector until an object allocated here (and referenced by
 * nothing) is collected: proof that at least one full collection ran.
 */
fun forceGc() {
    val canary = WeakReference(Any())
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS)
    while (canary.get() != null) {
        if (System.nanoTime() > deadline) fail("no garbage collection within ${WAIT_SECONDS}s")
        System.gc()
    }
}

/** Collects garbage until [ref] is cleared; a timeout is a failure (a leak). */
fun awaitCollected(ref: WeakReference<*>, what: String) {
    val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS)
    while (ref.get() != null) {
        if (System.nanoTime() > deadline) fail("$what was never collected (leaked)")
        System.gc()
        Thread.yield()
    }
}

fun CountDownLatch.awaitOrFail(what: String) {
    if (!await(WAIT_SECONDS, TimeUnit.SECONDS)) fail("timed out after ${WAIT_SECONDS}s waiting for $what")
}

fun <T : Any> BlockingQueue<T>.takeOrFail(what: String): T =
    poll(WAIT_SECONDS, TimeUnit.SECONDS) ?: fail("timed out after ${WAIT_SECONDS}s waiting for $what")

fun main(args: Array<String>) {
    registerHeaderTests()
    registerInviteTests()
    registerConversationTests()
    registerLifecycleTests()
    registerLeakTests()
    registerOptionsTests()
    registerKeepAliveTests()
    registerCleanerTests()
    registerParityTests()
    registerCoroutineTests()
    registerPushTests()
    registerPackagingTests()
    registerDocsTests()
    registerCancelReasonTests()
    val selected = if (args.isEmpty()) registered else registered.filter { t -> args.any { t.name.contains(it) } }
    var passed = 0
    var failed = 0
    val started = System.nanoTime()
    println("cleaner: ${Cleaners.instance.name}")
    for (t in selected) {
        val t0 = System.nanoTime()
        try {
            t.body()
            passed++
            println("PASS  ${t.name} (${(System.nanoTime() - t0) / 1_000_000} ms)")
        } catch (e: Throwable) {
            failed++
            println("FAIL  ${t.name} (${(System.nanoTime() - t0) / 1_000_000} ms): $e")
            e.printStackTrace(System.out)
        }
        System.out.flush()
    }
    println("${(System.nanoTime() - started) / 1_000_000} ms in tests")
    println("$passed passed, $failed failed")
    System.out.flush()
    exitProcess(if (failed == 0 && passed > 0) 0 else 1)
}
