package com.wilddog.video

import java.io.File
import java.util.concurrent.ArrayBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** Resident set size of this process in KiB (Linux), or -1. */
private fun rssKiB(): Long =
    File("/proc/self/status").takeIf { it.exists() }?.readLines()
        ?.firstOrNull { it.startsWith("VmRSS:") }
        ?.split(Regex("\\s+"))?.get(1)?.toLong() ?: -1

fun registerLeakTests() {
    test("1000 invites in a loop leave no native handles or JNI global references behind") {
        val handles0 = NativeDiagnostics.liveHandleCount()
        val refs0 = NativeDiagnostics.globalRefCount()
        val bobUid = uid("bob")
        val offline = uid("nobody")
        val bob = connect(bobUid)
        bob.onInvite { it.closeWhenDone() }
        // Four callers, so no user gets near the server's per-user invite rate limit.
        val callers = List(4) { connect(uid("caller$it")) }
        val outcomes = HashMap<String, Int>()
        var rssAfterWarmup = -1L
        val n = 1000
        for (i in 0 until n) {
            if (i == 100) rssAfterWarmup = rssKiB()
            val caller = callers[i % callers.size]
            val ringingBob = i % 2 == 0
            caller.inviteToConversation(if (ringingBob) bobUid else offline, userData = "loop $i").use { invite ->
                val done = ArrayBlockingQueue<Outcome>(1)
                invite.onOutcome { done.put(it) }
                if (ringingBob) invite.cancel()
                val outcome = done.takeOrFail("outcome of invite $i")
                val key = outcome.toString()
                outcomes[key] = (outcomes[key] ?: 0) + 1
            }
        }
        val rssEnd = rssKiB()
        println("      outcomes: $outcomes; RSS after 100 invites ${rssAfterWarmup / 1024} MiB, after $n ${rssEnd / 1024} MiB")
        assertEquals(n / 2, outcomes[Outcome.Canceled(CancelReason.CALLER_CANCELED).toString()], "canceled outcomes: $outcomes")
        assertEquals(n / 2, outcomes[Outcome.Failed(FailureReason.OFFLINE).toString()], "offline outcomes: $outcomes")
        for (c in callers) assertEquals(0, c.liveCount(), "invites the SDK still tracks for ${c.uid}")
        // Memory: the JVM heap may grow a little; native leaks of ~1 KiB × 1000 per
        // handle would too, so this bound is loose and the counts below are exact.
        if (rssAfterWarmup > 0) assertTrue(rssEnd - rssAfterWarmup < 64 * 1024, "RSS grew by ${(rssEnd - rssAfterWarmup) / 1024} MiB")
        callers.forEach { it.close() }
        bob.close()
        assertEquals(handles0, NativeDiagnostics.liveHandleCount(), "live native handles after closing everything")
        assertEquals(refs0, NativeDiagnostics.globalRefCount(), "JNI global references after closing everything")
    }
}
