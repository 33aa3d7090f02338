package com.wilddog.video

import java.lang.ref.WeakReference
import java.util.concurrent.LinkedBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertFalse
import kotlin.test.assertNotNull
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.hours

// Item 1 of the Android work: a handle with a listener lives until its final
// event or close(), whatever the app keeps; a closed or finished one is garbage.
// Every helper that creates a handle is a separate function returning only a
// WeakReference, so no local of the test keeps the handle reachable.

/** Alice invites [to] with only an outcome listener; all the test keeps is a weak reference. */
private fun inviteAndForget(alice: WilddogVideoClient, to: String, outcomes: LinkedBlockingQueue<Outcome>): WeakReference<OutgoingInvite> {
    val invite = alice.inviteToConversation(to)
    invite.onOutcome { outcomes.put(it) }
    return WeakReference(invite)
}

/** A client whose only reference is its invite listener, which reports each caller and rejects. */
private fun clientReachableOnlyThroughItsListener(uid: String, callers: LinkedBlockingQueue<String>): WeakReference<WilddogVideoClient> {
    val bob = connect(uid)
    bob.onInvite { incoming ->
        callers.put(incoming.from)
        incoming.reject()
    }
    return WeakReference(bob)
}

fun registerKeepAliveTests() {
    test("keep-alive: an invite referenced only by its listener survives GC and hears its outcome, then is collected") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val incoming = LinkedBlockingQueue<IncomingInvite>()
            bob.onInvite { incoming.put(it) }
            connect(a).use { alice ->
                val outcomes = LinkedBlockingQueue<Outcome>()
                val weak = inviteAndForget(alice, b, outcomes)
                val callee = incoming.takeOrFail("bob's invite")
                forceGc()
                forceGc()
                assertNotNull(weak.get(), "the invite with a listener was collected before its outcome")
                assertTrue(weak.get()!!.isKeptAlive)
                callee.reject(RejectReason.BUSY)
                assertEquals(Outcome.Rejected(RejectReason.BUSY), outcomes.takeOrFail("the outcome of a forgotten invite"))
                awaitCollected(weak, "an invite after its outcome")
                callee.close()
            }
        }
    }

    test("keep-alive: an incoming invite referenced only by its listener hears canceled, then is collected") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val outcomes = LinkedBlockingQueue<IncomingOutcome>()
            val weak = LinkedBlockingQueue<WeakReference<IncomingInvite>>()
            bob.onInvite { incoming ->
                incoming.onOutcome { outcomes.put(it) }
                weak.put(WeakReference(incoming))
            }
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val ref = weak.takeOrFail("bob's invite")
                    forceGc()
                    forceGc()
                    assertNotNull(ref.get(), "the incoming invite with a listener was collected before its outcome")
                    invite.cancel()
                    assertEquals(
                        IncomingOutcome.Canceled(CancelReason.CALLER_CANCELED),
                        outcomes.takeOrFail("canceled on the forgotten incoming invite"),
                    )
                    awaitCollected(ref, "an incoming invite after its outcome")
                }
            }
        }
    }

    test("keep-alive: a conversation referenced only by its listeners gets messages until disconnected, then is collected") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val bobs = LinkedBlockingQueue<Conversation>()
            bob.onInvite { it.acceptAndCloseWhenDone(bobs) }
            connect(a).use { alice ->
                val messages = LinkedBlockingQueue<String>()
                val disconnected = LinkedBlockingQueue<Unit>()
                val weak = LinkedBlockingQueue<WeakReference<Conversation>>()
                fun call() {
                    val invite = alice.inviteToConversation(b)
                    invite.onAccepted { conversation ->
                        conversation.onMessage { _, payload -> messages.put(payload) }
                        conversation.onDisconnected { disconnected.put(Unit) }
                        weak.put(WeakReference(conversation))
                        invite.close()
                    }
                }
                call()
                val ref = weak.takeOrFail("alice's conversation")
                val theirs = bobs.takeOrFail("bob's conversation")
                forceGc()
                forceGc()
                assertNotNull(ref.get(), "the conversation with listeners was collected")
                theirs.send("still there?")
                assertEquals("still there?", messages.takeOrFail("a message to a forgotten conversation"))
                theirs.disconnect()
                disconnected.takeOrFail("alice's conversation disconnected (everyone else left)")
                awaitCollected(ref, "a conversation after disconnected")
                theirs.close()
            }
        }
    }

    test("keep-alive: a client referenced only by its invite listener stays connected; closed, it is collected") {
        val (a, b) = uid("alice") to uid("bob")
        val callers = LinkedBlockingQueue<String>()
        val weak = clientReachableOnlyThroughItsListener(b, callers)
        forceGc()
        forceGc()
        assertNotNull(weak.get(), "a client with an invite listener was collected")
        connect(a).use { alice ->
            val outcomes = LinkedBlockingQueue<Outcome>()
            alice.inviteToConversation(b).use { invite ->
                invite.onOutcome { outcomes.put(it) }
                assertEquals(Outcome.Rejected(RejectReason.DECLINED), outcomes.takeOrFail("bob's answer"))
            }
            assertEquals(a, callers.takeOrFail("the caller bob heard"))
        }
        weak.get()!!.close()
        awaitCollected(weak, "a closed client")
    }

    test("keep-alive: without listeners nothing is kept; closing or removing the last listener lets go") {
        val refs0 = NativeDiagnostics.globalRefCount()
        connect(uid("alice")).use { alice ->
            // A dropped client without listeners is closed by the cleaner (it disconnects).
            val freed = LinkedBlockingQueue<Long>()
            fun dropped(): WeakReference<WilddogVideoClient> {
                val c = connect(uid("carol"))
                c.handle.onFreed = { freed.put(it) }
                return WeakReference(c)
            }
            val carol = dropped()
            awaitCollected(carol, "a client without listeners")
            freed.takeOrFail("the cleaner freeing the dropped client")

            // Removing the last listener, or closing, lets go of an invite with events to come.
            connect(uid("bob")).use { bob ->
                fun closedWithListener(): WeakReference<OutgoingInvite> {
                    val pending = alice.inviteToConversation(bob.uid, lifetime = 1.hours)
                    val subscription = pending.onRinging { }
                    assertTrue(pending.isKeptAlive)
                    subscription.close()
                    subscription.close()
                    assertFalse(pending.isKeptAlive, "the last listener removed, nothing holds the invite")
                    pending.onOutcome { }
                    assertTrue(pending.isKeptAlive)
                    pending.close()
                    assertFalse(pending.isKeptAlive)
                    return WeakReference(pending)
                }
                awaitCollected(closedWithListener(), "a closed invite that had a listener")
            }
        }
        assertEquals(refs0, NativeDiagnostics.globalRefCount(), "JNI global references")
    }
}

