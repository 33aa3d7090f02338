package com.wilddog.video.docs

import com.wilddog.video.Conversation
import com.wilddog.video.Participant
import java.util.concurrent.LinkedBlockingQueue

/**
 * What the snippets of docs/getting-started-kotlin.md use without defining it:
 * the server's [url], and stand-ins for the app's WebRTC engine that record
 * what they were handed. Each snippet runs as an extension function of a fresh
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
}
