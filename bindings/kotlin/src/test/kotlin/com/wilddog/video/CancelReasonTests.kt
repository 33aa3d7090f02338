package com.wilddog.video

import java.util.concurrent.LinkedBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** One call of an outgoing invite's sink: which invite, the kind, the reason. */
internal data class SinkCall(val invite: Long, val kind: OutgoingEventKind, val reason: Int)

/**
 * A sink of the glue's own shape (`onEvent(kind, reason, conversation)`) that
 * records what the glue hands it, so a test sees the event's reason as it
 * reaches Kotlin.
 */
internal class RecordingOutgoingSink(private val invite: Long, private val calls: LinkedBlockingQueue<SinkCall>) {
    @Suppress("unused")
    fun onEvent(kind: Int, reason: Int, conversationId: Long) {
        if (conversationId != 0L) NativeLib.conversationFree(conversationId)
        calls.put(SinkCall(invite, OutgoingEventKind.of(kind), reason))
    }

    @Suppress("unused")
    fun reportError(e: Throwable) = WilddogVideo.reportListenerError(e)
}

fun registerCancelReasonTests() {
    test("a canceled invite's reason reaches Kotlin in its event: glare, then caller canceled") {
        val (a, b) = uid("glare-a") to uid("glare-b")
        connect(a).use { alice ->
            connect(b).use { bob ->
                // Raw handles, so no listener hears an event before the
                // recording sink is set.
                val toBob = alice.handle.use { NativeLib.clientInvite(it, b, Mode.P2P.value, null, null, 60_000) }
                val toAlice = bob.handle.use { NativeLib.clientInvite(it, a, Mode.P2P.value, null, null, 60_000) }
                try {
                    val calls = LinkedBlockingQueue<SinkCall>()
                    for (id in listOf(toBob, toAlice)) NativeLib.outgoingSetSink(id, RecordingOutgoingSink(id, calls))
                    // The invite with the greater id loses the glare.
                    var lost = calls.takeOrFail("the glare's outcome")
                    while (lost.kind == OutgoingEventKind.RINGING) lost = calls.takeOrFail("the glare's outcome")
                    assertEquals(OutgoingEventKind.CANCELED, lost.kind)
                    assertEquals(CancelReason.GLARE, CancelReason.of(lost.reason))
                    assertEquals(lost.reason, NativeLib.outgoingCancelReason(lost.invite))
                    val survivor = if (lost.invite == toBob) toAlice else toBob
                    assertEquals(OutgoingStatus.PENDING, OutgoingStatus.of(NativeLib.outgoingStatus(survivor)))

                    NativeLib.outgoingCancel(survivor)
                    var canceled = calls.takeOrFail("the local cancel")
                    while (canceled.kind == OutgoingEventKind.RINGING) canceled = calls.takeOrFail("the local cancel")
                    assertEquals(SinkCall(survivor, OutgoingEventKind.CANCELED, CancelReason.CALLER_CANCELED.value), canceled)
                    assertTrue(calls.all { it.kind == OutgoingEventKind.RINGING }, "one outcome per invite: $calls")
                } finally {
                    NativeLib.outgoingFree(toBob)
                    NativeLib.outgoingFree(toAlice)
                }
            }
        }
    }
}
