// Stands in for Firebase Cloud Messaging's classes on the JVM: the members the
// push section of docs/getting-started-kotlin.md uses, so its snippet compiles
// and runs in the Kotlin tests as it would in an app.
package com.google.firebase.messaging

import java.util.concurrent.atomic.AtomicInteger

class RemoteMessage(val data: Map<String, String>)

abstract class FirebaseMessagingService {
    open fun onMessageReceived(message: RemoteMessage) {}

    open fun onNewToken(token: String) {}
}

class FirebaseMessaging private constructor() {
    /** How often the app asked for its token to be deleted (the stand-in's record). */
    val deletions = AtomicInteger()

    /** Deletes the app's token; FCM then hands a fresh one to `onNewToken` (a `Task<Void>` on Android). */
    fun deleteToken() {
        deletions.incrementAndGet()
    }

    companion object {
        private val instance = FirebaseMessaging()

        @JvmStatic
        fun getInstance(): FirebaseMessaging = instance
    }
}
