package com.wilddog.video

// The listener types of the API. Each is a `fun interface`: pass a Kotlin
// lambda or a function reference (`invite.onOutcome(viewModel::show)`), or a
// Java lambda.

/** Hears one kind of event that carries a value. */
fun interface Listener<in T> {
    /** Called with the event, on the client's event executor. */
    fun onEvent(event: T)
}

/** Hears an event that carries nothing (`ringing`, `disconnected`). */
fun interface EventCallback {
    /** Called on the client's event executor. */
    fun onEvent()
}

/** Hears a participant leaving a conversation, with why. */
fun interface ParticipantLeftListener {
    /** Called on the client's event executor. */
    fun onParticipantLeft(participant: Participant, reason: ParticipantLeftReason)
}

/** Hears a message sent to this device in a conversation. */
fun interface MessageListener {
    /** Called on the client's event executor, in the order the sender sent. */
    fun onMessage(from: Participant, payload: String)
}

/**
 * A registered listener. [close] removes it: it hears nothing more, not even
 * events already on their way. Closing twice does nothing. Dropping a
 * subscription without closing it removes nothing: the listener stays until
 * its handle's final event or until the handle is closed.
 */
fun interface Subscription : AutoCloseable {
    /** Removes the listener. */
    override fun close()
}
