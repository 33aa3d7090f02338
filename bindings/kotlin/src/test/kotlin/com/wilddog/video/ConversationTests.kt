package com.wilddog.video

import java.util.concurrent.CountDownLatch
import java.util.concurrent.Executor
import java.util.concurrent.LinkedBlockingQueue
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNotSame
import kotlin.test.assertNull
import kotlin.test.assertSame

/** Accepts every invite this client gets; where their conversations go. */
private fun WilddogVideoClient.acceptEveryInvite(): LinkedBlockingQueue<Conversation> {
    val conversations = LinkedBlockingQueue<Conversation>()
    onInvite { inc -> inc.acceptAndCloseWhenDone(conversations) }
    return conversations
}

/** Alice invites [bob] (whose client accepts every invite); both conversations. */
private fun call(alice: WilddogVideoClient, bob: WilddogVideoClient): Pair<Conversation, Conversation> {
    val theirs = bob.acceptEveryInvite()
    val mine = LinkedBlockingQueue<Conversation>()
    alice.inviteToConversation(bob.uid).use { invite ->
        invite.onAccepted { mine.put(it) }
        return mine.takeOrFail("caller's conversation") to theirs.takeOrFail("callee's conversation")
    }
}

fun registerConversationTests() {
    test("messages: to one participant and to all, in order, with their sender") {
        connect(uid("bob")).use { bob ->
            connect(uid("alice")).use { alice ->
                val (mine, theirs) = call(alice, bob)
                // Sent before bob listens: handed to his first listener, in order.
                for (i in 0 until 100) mine.send("m$i", to = bob.uid)
                val got = LinkedBlockingQueue<Pair<Participant, String>>()
                theirs.onMessage { from, payload -> got.put(from to payload) }
                for (i in 0 until 100) {
                    assertEquals(Participant(alice.uid, alice.device) to "m$i", got.takeOrFail("message $i"))
                }
                // A listener added now hears only what follows.
                val late = LinkedBlockingQueue<String>()
                theirs.onMessage { _, payload -> late.put(payload) }
                mine.send("to everyone")
                assertEquals("to everyone", got.takeOrFail("broadcast, first listener").second)
                assertEquals("to everyone", late.takeOrFail("broadcast, late listener"))
                assertNull(late.peek(), "the late listener heard the earlier messages")
                // And back.
                val back = LinkedBlockingQueue<Pair<Participant, String>>()
                mine.onMessage { from, payload -> back.put(from to payload) }
                theirs.send("""{"candidate":"a=1"}""")
                assertEquals(Participant(bob.uid, bob.device) to """{"candidate":"a=1"}""", back.takeOrFail("reply"))
                mine.close()
                theirs.close()
            }
        }
    }

    test("send: bad arguments are typed and change nothing; after leaving it is an invalid state") {
        connect(uid("bob")).use { bob ->
            connect(uid("alice")).use { alice ->
                val (mine, theirs) = call(alice, bob)
                val big = assertFailsWith<InvalidArgumentException> { mine.send("x".repeat(65_537)) }
                assertEquals("payload", big.field)
                val nul = assertFailsWith<InvalidArgumentException> { mine.send("a\u0000b") }
                assertEquals("payload", nul.field)
                val stranger = assertFailsWith<InvalidArgumentException> { mine.send("hi", to = "somebody-else") }
                assertEquals("to", stranger.field)
                // Still usable: a message at the limit arrives whole.
                val got = LinkedBlockingQueue<String>()
                theirs.onMessage { _, payload -> got.put(payload) }
                mine.send("y".repeat(65_536))
                assertEquals(65_536, got.takeOrFail("message at the limit").length)
                mine.disconnect()
                val gone = assertFailsWith<InvalidStateException> { mine.send("late") }
                assertEquals(ObjectState.DISCONNECTED, gone.state)
                assertFailsWith<InvalidStateException> { mine.invite(uid("carol")) }
                mine.close()
                theirs.close()
                assertFailsWith<HandleClosedException> { mine.send("closed") }
            }
        }
    }

    test("invite into a conversation: everyone hears participant connected, one object per conversation") {
        connect(uid("bob")).use { bob ->
            connect(uid("carol")).use { carol ->
                connect(uid("alice")).use { alice ->
                    val (mine, bobs) = call(alice, bob)
                    val joinedAlice = LinkedBlockingQueue<Participant>()
                    val joinedBob = LinkedBlockingQueue<Participant>()
                    mine.onParticipantConnected { joinedAlice.put(it) }
                    bobs.onParticipantConnected { joinedBob.put(it) }
                    val carols = carol.acceptEveryInvite()
                    assertFailsWith<InvalidArgumentException> { mine.invite(bob.uid) }.also {
                        assertEquals("participantId", it.field)
                    }
                    mine.invite(carol.uid, userData = "join us").use { invite ->
                        assertEquals(mine.conversationId, invite.conversationId)
                        val accepted = LinkedBlockingQueue<Conversation>()
                        invite.onAccepted { accepted.put(it) }
                        assertSame(mine, accepted.takeOrFail("accepted into the conversation"))
                        assertSame(mine, invite.conversation)
                    }
                    val carolConversation = carols.takeOrFail("carol's conversation")
                    assertEquals(mine.conversationId, carolConversation.conversationId)
                    val newcomer = Participant(carol.uid, carol.device)
                    assertEquals(newcomer, joinedAlice.takeOrFail("alice hears carol joined"))
                    assertEquals(newcomer, joinedBob.takeOrFail("bob hears carol joined"))
                    assertEquals(setOf(bob.uid, carol.uid), mine.participants.map { it.uid }.toSet())
                    assertEquals(setOf(alice.uid, bob.uid), carolConversation.participants.map { it.uid }.toSet())
                    // The first object still gets the conversation's events after the
                    // invite handed out a second native handle for it.
                    val got = LinkedBlockingQueue<String>()
                    mine.onMessage { _, payload -> got.put(payload) }
                    carolConversation.send("hello from carol", to = alice.uid)
                    assertEquals("hello from carol", got.takeOrFail("message to the first object"))
                    for (c in listOf(mine, bobs, carolConversation)) c.close()
                }
            }
        }
    }

    test("invite into a conversation whose object was closed: a new object, still in it") {
        connect(uid("bob")).use { bob ->
            connect(uid("carol")).use { carol ->
                connect(uid("alice")).use { alice ->
                    val (mine, bobs) = call(alice, bob)
                    val carols = carol.acceptEveryInvite()
                    mine.invite(carol.uid).use { invite ->
                        mine.close()
                        val accepted = LinkedBlockingQueue<Conversation>()
                        invite.onAccepted { accepted.put(it) }
                        val again = accepted.takeOrFail("accepted")
                        assertNotSame(mine, again)
                        assertEquals(mine.conversationId, again.conversationId)
                        assertEquals(setOf(bob.uid, carol.uid), again.participants.map { it.uid }.toSet())
                        val got = LinkedBlockingQueue<String>()
                        again.onMessage { _, payload -> got.put(payload) }
                        carols.takeOrFail("carol's conversation").use { it.send("hi alice", to = alice.uid) }
                        assertEquals("hi alice", got.takeOrFail("message to the new object"))
                        again.close()
                    }
                    bobs.close()
                }
            }
        }
    }

    test("the conversation fetched before the accepted event still hears every event") {
        connect(uid("bob")).use { bob ->
            connect(uid("carol")).use { carol ->
                connect(uid("alice"), Executor { it.run() }).use { alice ->
                    val theirs = bob.acceptEveryInvite()
                    // Alice's listeners run on her SDK event thread (a direct
                    // executor): holding it in her invite listener keeps every
                    // later event of her client queued behind it.
                    val held = CountDownLatch(1)
                    val hold = CountDownLatch(1)
                    alice.onInvite { inc ->
                        held.countDown()
                        hold.await()
                        inc.close()
                    }
                    carol.inviteToConversation(alice.uid).use {
                        held.awaitOrFail("alice's event thread held")
                        alice.inviteToConversation(bob.uid).use { invite ->
                            // Bob has his conversation only once Alice decided, so
                            // hers exists natively: fetch it before her `accepted`
                            // event hands out a second handle for it.
                            val bobs = theirs.takeOrFail("callee's conversation")
                            val fetched = invite.conversation ?: error("accepted, but no conversation")
                            val accepted = LinkedBlockingQueue<Conversation>()
                            invite.onAccepted { accepted.put(it) }
                            hold.countDown()
                            assertSame(fetched, accepted.takeOrFail("accepted"))
                            val got = LinkedBlockingQueue<String>()
                            fetched.onMessage { _, payload -> got.put(payload) }
                            bobs.send("still listening?")
                            assertEquals("still listening?", got.takeOrFail("message after the second handle"))
                            val left = LinkedBlockingQueue<ParticipantLeftReason>()
                            fetched.onParticipantDisconnected { _, reason -> left.put(reason) }
                            bobs.disconnect()
                            assertEquals(ParticipantLeftReason.LEFT, left.takeOrFail("participant disconnected"))
                            fetched.close()
                            bobs.close()
                        }
                    }
                }
            }
        }
    }
}
