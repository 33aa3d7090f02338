package com.wilddog.video

import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executors
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertContains
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertIs
import kotlin.test.assertNull
import kotlin.test.assertSame
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.milliseconds

/** Closes an incoming invite (and its conversation) once it has an outcome. */
fun IncomingInvite.closeWhenDone(): IncomingInvite = apply {
    onOutcome {
        if (it is IncomingOutcome.Accepted) it.conversation.close()
        close()
    }
}

/** Accepts; the conversation goes to [conversations], and the invite is closed once it has an outcome. */
fun IncomingInvite.acceptAndCloseWhenDone(conversations: LinkedBlockingQueue<Conversation>) {
    onAccepted { conversations.put(it) }
    onOutcome { close() }
    accept()
}

fun registerInviteTests() {
    test("accepted: ringing, then accepted with the conversation and the answer") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            bob.onInvite { it.closeWhenDone().accept(answer = "v=0 answer", userData = "hi back") }
            connect(a).use { alice ->
                val ringing = CountDownLatch(1)
                val accepted = LinkedBlockingQueue<Conversation>()
                val outcomes = LinkedBlockingQueue<Outcome>()
                alice.inviteToConversation(b, offer = "v=0 offer", userData = "hello").use { invite ->
                    assertEquals(b, invite.to)
                    assertEquals(Mode.P2P, invite.mode)
                    invite.onRinging { ringing.countDown() }
                    invite.onAccepted { accepted.put(it) }
                    invite.onOutcome { outcomes.put(it) }
                    val conversation = accepted.takeOrFail("accepted")
                    val outcome = assertIs<Outcome.Accepted>(outcomes.takeOrFail("outcome"))
                    assertSame(conversation, outcome.conversation)
                    ringing.awaitOrFail("ringing")
                    assertEquals(OutgoingStatus.ACCEPTED, invite.status)
                    assertSame(conversation, invite.conversation)
                    assertEquals(invite.conversationId, conversation.conversationId)
                    assertEquals("v=0 answer", invite.answer)
                    assertEquals("hi back", invite.answerUserData)
                    assertNull(invite.failureReason)
                    assertEquals(listOf(b), conversation.participants.map { it.uid })
                    // cancel() after accepted: a typed exception, and nothing changes.
                    val e = assertFailsWith<InvalidStateException> { invite.cancel() }
                    assertEquals(ObjectState.ACCEPTED, e.state)
                    assertEquals(OutgoingStatus.ACCEPTED, invite.status)
                    conversation.close()
                }
            }
        }
    }

    test("incoming invite accepted from Kotlin") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val incoming = LinkedBlockingQueue<IncomingInvite>()
            bob.onInvite { incoming.put(it) }
            connect(a).use { alice ->
                val callerAccepted = CountDownLatch(1)
                alice.inviteToConversation(b, mode = Mode.SERVER, userData = "call me", offer = "v=0 o").use { invite ->
                    invite.onAccepted { it.close(); callerAccepted.countDown() }
                    incoming.takeOrFail("the incoming invite").use { inc ->
                        assertEquals(a, inc.from)
                        assertEquals(invite.conversationId, inc.conversationId)
                        assertEquals(Mode.SERVER, inc.mode)
                        assertEquals("call me", inc.userData)
                        assertEquals("v=0 o", inc.offer)
                        assertEquals(IncomingStatus.PENDING, inc.status)
                        val conversations = LinkedBlockingQueue<Conversation>()
                        inc.onAccepted { conversations.put(it) }
                        inc.accept("v=0 a", "ok")
                        assertContains(listOf(IncomingStatus.ACCEPTING, IncomingStatus.ACCEPTED), inc.status)
                        val conversation = conversations.takeOrFail("incoming accepted")
                        assertEquals(IncomingStatus.ACCEPTED, inc.status)
                        assertSame(conversation, inc.conversation)
                        assertEquals(inc.conversationId, conversation.conversationId)
                        assertEquals(Mode.SERVER, conversation.mode)
                        assertEquals(listOf(a), conversation.participants.map { it.uid })
                        assertTrue(conversation.isConnected)
                        assertFailsWith<InvalidStateException> { inc.accept() }
                        assertFailsWith<InvalidStateException> { inc.reject() }
                        callerAccepted.awaitOrFail("caller accepted")
                        conversation.close()
                    }
                }
            }
        }
    }

    test("rejected: the caller hears the invitee's reason") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val calleeSaw = LinkedBlockingQueue<RejectReason>()
            bob.onInvite { inc ->
                inc.onRejected { calleeSaw.put(it) }
                inc.closeWhenDone()
                inc.reject(RejectReason.BUSY)
                // A proposal until the caller's outcome comes back, as an accept is.
                assertTrue(inc.status in setOf(IncomingStatus.REJECTING, IncomingStatus.REJECTED))
            }
            connect(a).use { alice ->
                val reasons = LinkedBlockingQueue<RejectReason>()
                alice.inviteToConversation(b).use { invite ->
                    invite.onRejected { reasons.put(it) }
                    assertEquals(RejectReason.BUSY, reasons.takeOrFail("rejected"))
                    assertEquals(OutgoingStatus.REJECTED, invite.status)
                    assertEquals(RejectReason.BUSY, invite.rejectReason)
                    assertNull(invite.conversation)
                    assertEquals(RejectReason.BUSY, calleeSaw.takeOrFail("callee's rejected event"))
                }
            }
        }
    }

    test("canceled: status at once, one canceled event, the invitee hears caller_canceled") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val incoming = LinkedBlockingQueue<IncomingInvite>()
            bob.onInvite { incoming.put(it) }
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val canceled = AtomicInteger()
                    val canceledOnce = CountDownLatch(1)
                    invite.onCanceled { reason ->
                        assertEquals(CancelReason.CALLER_CANCELED, reason)
                        canceled.incrementAndGet()
                        canceledOnce.countDown()
                    }
                    incoming.takeOrFail("incoming").use { inc ->
                        val calleeReason = LinkedBlockingQueue<CancelReason>()
                        inc.onCanceled { calleeReason.put(it) }
                        invite.cancel()
                        assertEquals(OutgoingStatus.CANCELED, invite.status)
                        assertEquals(CancelReason.CALLER_CANCELED, invite.cancelReason)
                        assertFailsWith<InvalidStateException> { invite.cancel() }
                        canceledOnce.awaitOrFail("canceled")
                        assertEquals(CancelReason.CALLER_CANCELED, calleeReason.takeOrFail("callee canceled"))
                        assertEquals(IncomingStatus.CANCELED, inc.status)
                        assertEquals(CancelReason.CALLER_CANCELED, inc.cancelReason)
                        // A later listener proves every earlier delivery is done; still once.
                        val late = LinkedBlockingQueue<Outcome>()
                        invite.onOutcome { late.put(it) }
                        assertEquals(Outcome.Canceled(CancelReason.CALLER_CANCELED), late.takeOrFail("late outcome"))
                        assertEquals(1, canceled.get())
                    }
                }
            }
        }
    }

    test("offline: failed(offline) when no device of the invitee is online") {
        connect(uid("alice")).use { alice ->
            val reasons = LinkedBlockingQueue<FailureReason>()
            alice.inviteToConversation(uid("nobody")).use { invite ->
                invite.onFailed { reasons.put(it) }
                assertEquals(FailureReason.OFFLINE, reasons.takeOrFail("failed"))
                assertEquals(OutgoingStatus.FAILED, invite.status)
                assertEquals(FailureReason.OFFLINE, invite.failureReason)
            }
        }
    }

    test("timeout: failed(timeout) after a short lifetime nobody answered") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val calleeOutcome = LinkedBlockingQueue<IncomingOutcome>()
            bob.onInvite { inc ->
                inc.onOutcome { calleeOutcome.put(it) }
                inc.closeWhenDone()
            }
            connect(a).use { alice ->
                val outcomes = LinkedBlockingQueue<Outcome>()
                val ringing = CountDownLatch(1)
                alice.inviteToConversation(b, lifetime = 300.milliseconds).use { invite ->
                    invite.onRinging { ringing.countDown() }
                    invite.onOutcome { outcomes.put(it) }
                    assertEquals(Outcome.Failed(FailureReason.TIMEOUT), outcomes.takeOrFail("timeout"))
                    ringing.awaitOrFail("ringing")
                    assertEquals(FailureReason.TIMEOUT, invite.failureReason)
                    val callee = calleeOutcome.takeOrFail("callee outcome")
                    assertTrue(callee !is IncomingOutcome.Accepted, "callee: $callee")
                }
            }
        }
    }

    test("conversation events: participant disconnected, then disconnected") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            val bobConversation = LinkedBlockingQueue<Conversation>()
            bob.onInvite { inc -> inc.acceptAndCloseWhenDone(bobConversation) }
            connect(a).use { alice ->
                val aliceConversation = LinkedBlockingQueue<Conversation>()
                alice.inviteToConversation(b).use { invite ->
                    invite.onAccepted { aliceConversation.put(it) }
                    val mine = aliceConversation.takeOrFail("caller's conversation")
                    val theirs = bobConversation.takeOrFail("callee's conversation")
                    val left = LinkedBlockingQueue<Pair<Participant, ParticipantLeftReason>>()
                    val aliceDisconnected = CountDownLatch(1)
                    val bobDisconnected = CountDownLatch(1)
                    mine.onParticipantDisconnected { p, reason -> left.put(p to reason) }
                    mine.onDisconnected { aliceDisconnected.countDown() }
                    theirs.onDisconnected { bobDisconnected.countDown() }
                    assertEquals(listOf(Participant(b, bob.device)), mine.participants)
                    theirs.disconnect()
                    bobDisconnected.awaitOrFail("callee disconnected")
                    assertEquals(false, theirs.isConnected)
                    assertFailsWith<InvalidStateException> { theirs.disconnect() }
                    assertEquals(
                        Participant(b, bob.device) to ParticipantLeftReason.LEFT,
                        left.takeOrFail("participant disconnected"),
                    )
                    aliceDisconnected.awaitOrFail("caller disconnected (everyone else left)")
                    assertEquals(emptyList(), mine.participants)
                    mine.close()
                    theirs.close()
                }
            }
        }
    }

    test("a participant whose client closes without leaving is gone: CONNECTION_LOST") {
        val (a, b) = uid("alice") to uid("bob")
        val bob = connect(b)
        val bobDevice = bob.device
        val bobConversation = LinkedBlockingQueue<Conversation>()
        bob.onInvite { inc -> inc.acceptAndCloseWhenDone(bobConversation) }
        connect(a).use { alice ->
            val aliceConversation = LinkedBlockingQueue<Conversation>()
            alice.inviteToConversation(b).use { invite ->
                invite.onAccepted { aliceConversation.put(it) }
                val mine = aliceConversation.takeOrFail("caller's conversation")
                bobConversation.takeOrFail("callee's conversation").close()
                val left = LinkedBlockingQueue<Pair<Participant, ParticipantLeftReason>>()
                val aliceDisconnected = CountDownLatch(1)
                mine.onParticipantDisconnected { p, reason -> left.put(p to reason) }
                mine.onDisconnected { aliceDisconnected.countDown() }
                bob.close() // no disconnect(): the server announces bob gone
                assertEquals(
                    Participant(b, bobDevice) to ParticipantLeftReason.CONNECTION_LOST,
                    left.takeOrFail("participant gone"),
                )
                aliceDisconnected.awaitOrFail("caller disconnected (everyone else gone)")
                mine.close()
            }
        }
    }

    test("invite listener set after the invite arrived still gets it, once") {
        val (a, b) = uid("alice") to uid("bob")
        connect(b).use { bob ->
            connect(a).use { alice ->
                alice.inviteToConversation(b).use { invite ->
                    val ringing = CountDownLatch(1)
                    invite.onRinging { ringing.countDown() }
                    ringing.awaitOrFail("ringing (bob's client has the invite)")
                    val got = LinkedBlockingQueue<IncomingInvite>()
                    bob.onInvite { got.put(it) }
                    got.takeOrFail("late invite").use { inc ->
                        assertEquals(invite.conversationId, inc.conversationId)
                        inc.reject()
                    }
                    val reasons = LinkedBlockingQueue<RejectReason>()
                    invite.onRejected { reasons.put(it) }
                    assertEquals(RejectReason.DECLINED, reasons.takeOrFail("rejected"))
                    assertNull(got.peek(), "the invite was delivered twice")
                }
            }
        }
    }

    test("outcome listener registered after the event is still called, once") {
        connect(uid("alice")).use { alice ->
            alice.inviteToConversation(uid("nobody")).use { invite ->
                val first = LinkedBlockingQueue<FailureReason>()
                invite.onFailed { first.put(it) }
                assertEquals(FailureReason.OFFLINE, first.takeOrFail("first listener"))
                val calls = AtomicInteger()
                val late = LinkedBlockingQueue<Outcome>()
                invite.onOutcome { calls.incrementAndGet(); late.put(it) }
                assertEquals(Outcome.Failed(FailureReason.OFFLINE), late.takeOrFail("late listener"))
                // A third listener runs after every earlier delivery (one queue per client).
                val third = CountDownLatch(1)
                invite.onOutcome { third.countDown() }
                third.awaitOrFail("third listener")
                assertEquals(1, calls.get())
                assertNull(first.peek(), "the first listener heard the outcome twice")
            }
        }
    }

    test("events run on the caller-supplied executor") {
        val aliceExec = Executors.newSingleThreadExecutor { Thread(it, "alice-executor") }
        val bobExec = Executors.newSingleThreadExecutor { Thread(it, "bob-executor") }
        try {
            val (a, b) = uid("alice") to uid("bob")
            connect(b, bobExec).use { bob ->
                val calleeThreads = LinkedBlockingQueue<String>()
                bob.onInvite { inc ->
                    calleeThreads.put(Thread.currentThread().name)
                    inc.onRejected { calleeThreads.put(Thread.currentThread().name) }
                    inc.closeWhenDone()
                    inc.reject()
                }
                connect(a, aliceExec).use { alice ->
                    val threads = LinkedBlockingQueue<String>()
                    alice.inviteToConversation(b).use { invite ->
                        invite.onRinging { threads.put("ringing@" + Thread.currentThread().name) }
                        invite.onRejected { threads.put("rejected@" + Thread.currentThread().name) }
                        assertEquals("ringing@alice-executor", threads.takeOrFail("ringing"))
                        assertEquals("rejected@alice-executor", threads.takeOrFail("rejected"))
                        // A late listener is replayed on the executor too.
                        invite.onOutcome { threads.put("late@" + Thread.currentThread().name) }
                        assertEquals("late@alice-executor", threads.takeOrFail("late outcome"))
                        assertEquals("bob-executor", calleeThreads.takeOrFail("onInvite"))
                        assertEquals("bob-executor", calleeThreads.takeOrFail("callee rejected"))
                    }
                }
            }
        } finally {
            aliceExec.shutdown()
            bobExec.shutdown()
        }
    }
}
