package com.wilddog.video.docs

import android.content.ComponentName
import android.telecom.Connection
import android.telecom.ConnectionService
import android.telecom.PhoneAccountHandle
import android.telecom.TelecomManager
import com.google.firebase.messaging.FirebaseMessaging
import com.google.firebase.messaging.FirebaseMessagingService
import com.google.firebase.messaging.RemoteMessage
import com.wilddog.video.Conversation
import com.wilddog.video.FailureReason
import com.wilddog.video.Outcome
import com.wilddog.video.Participant
import com.wilddog.video.PushGateway
import com.wilddog.video.WAIT_SECONDS
import com.wilddog.video.connect
import com.wilddog.video.pushKey
import com.wilddog.video.registerAndLeave
import com.wilddog.video.takeOrFail
import com.wilddog.video.uid
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import java.util.concurrent.locks.LockSupport
import kotlin.test.assertEquals
import kotlin.test.assertIs
import kotlin.test.fail
import kotlin.time.Duration.Companion.milliseconds

/**
 * What the snippets of docs/getting-started-kotlin.md use without defining it:
 * the server's [url], stand-ins for the app's WebRTC engine that record what
 * they were handed, and for the push section the app's Android pieces
 * ([telecom], [phoneAccount], [showMissedCall]) and a [phone] that plays what
 * Android and FCM do. Each snippet runs as an extension function of a fresh
 * scope (tests/docs/kotlin-snippets.py).
 */
class DocScope(
    /** The test server's address. */
    val url: String,
) {
    /** An SDP offer, as a WebRTC engine would make it. */
    val mySdpOffer = "v=0 (offer)"

    /** An SDP answer. */
    val mySdpAnswer = "v=0 (answer)"

    /** An ICE candidate as JSON. */
    val candidateJson = """{"candidate":"candidate:1 1 udp 2122260223 10.0.0.1 5000 typ host"}"""

    /** Conversations handed to [startMedia], with the SDP. */
    val mediaStarted = LinkedBlockingQueue<Pair<Conversation, String?>>()

    /** Candidates handed to [addIceCandidate]. */
    val candidates = LinkedBlockingQueue<Pair<Participant, String>>()

    /** Starts media for [conversation] with the peer's [sdp] (records it). */
    fun startMedia(conversation: Conversation, sdp: String?) {
        mediaStarted.put(conversation to sdp)
    }

    /** Hands a peer's candidate to the engine (records it). */
    fun addIceCandidate(from: Participant, payload: String) {
        candidates.put(from to payload)
    }

    /** The app's `TelecomManager` (`getSystemService(TelecomManager::class.java)` in an app). */
    val telecom = TelecomManager()

    /** The handle of the app's self-managed `PhoneAccount`, registered once with Telecom. */
    val phoneAccount = PhoneAccountHandle(ComponentName("com.example.app", "com.example.app.CallConnectionService"), "wilddog")

    /** Callers of the missed calls [showMissedCall] was asked to show. */
    val missedCalls = LinkedBlockingQueue<String>()

    /** The app's missed-call notification (records the caller). */
    fun showMissedCall(from: String) {
        missedCalls.put(from)
    }

    /** The device the push section's snippet runs on. */
    val phone = Phone(this)
}

/**
 * Plays, for the push section's snippet, what Android and FCM do on a phone,
 * with the real test server and push gateway: the app's user is `dave`, whose
 * earlier run registered the FCM token [token]; while the app sleeps a caller's
 * first call is missed and the second rings; the user answers it.
 */
class Phone(private val scope: DocScope) {
    /** The FCM token the app's earlier run registered. */
    val token: String = pushKey("docs")

    /**
     * Runs the app's [messaging] and [connections] services as Android would,
     * checking at each step that the app did its part.
     */
    fun run(messaging: FirebaseMessagingService, connections: ConnectionService) {
        scope.telecom.connectionService = connections
        registerAndLeave(USER, token)
        connect(uid("alice")).use { alice ->
            // A call while the app sleeps, unanswered: its second push says so.
            alice.inviteToConversation(USER, lifetime = 300.milliseconds).use { missed ->
                val failed = LinkedBlockingQueue<FailureReason>()
                missed.onFailed { failed.put(it) }
                assertEquals(FailureReason.TIMEOUT, failed.takeOrFail("the missed call's timeout"))
                val ended = PushGateway.awaitPush(token, "wd.invite_ended") { it.conversationId == missed.conversationId }
                messaging.onMessageReceived(RemoteMessage(ended.fcmData))
                assertEquals(alice.uid, scope.missedCalls.takeOrFail("the missed call shown"))
            }
            // A call that rings: the app reports it, the user answers.
            alice.inviteToConversation(USER, offer = scope.mySdpOffer, userData = "Video call from Alice").use { call ->
                val outcome = LinkedBlockingQueue<Outcome>()
                call.onOutcome { outcome.put(it) }
                val push = PushGateway.awaitPush(token) { it.conversationId == call.conversationId }
                messaging.onMessageReceived(RemoteMessage(push.fcmData))
                val connection = scope.telecom.connections.takeOrFail("the call reported to Telecom")
                assertEquals(Connection.STATE_RINGING, connection.state)
                assertEquals(alice.uid, connection.callerDisplayName)
                connection.onAnswer()
                assertIs<Outcome.Accepted>(outcome.takeOrFail("the caller's accepted")).conversation.close()
                val (conversation, offer) = scope.mediaStarted.takeOrFail("media started on the phone")
                assertEquals(scope.mySdpOffer, offer, "the offer, fetched after the push")
                assertEquals(call.conversationId, conversation.conversationId)
                awaitState(connection, Connection.STATE_ACTIVE)
            }
        }
        // FCM rotates the token.
        messaging.onNewToken(pushKey("docs-rotated"))
        assertEquals(0, FirebaseMessaging.getInstance().deletions.get(), "a token deleted that the gateway never rejected")
    }

    private fun awaitState(connection: Connection, state: Int) {
        val deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(WAIT_SECONDS)
        while (connection.state != state) {
            if (System.nanoTime() > deadline) fail("the connection's state is ${connection.state}, not $state")
            LockSupport.parkNanos(1_000_000)
        }
    }

    companion object {
        /** The app's user. */
        const val USER = "dave"
    }
}
