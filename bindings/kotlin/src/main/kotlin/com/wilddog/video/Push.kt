package com.wilddog.video

/** The push service a device's key belongs to (`provider` of a registration). */
enum class PushProvider(
    /** The wire name (`"apns"`, `"fcm"`, `"webpush"`). */
    val apiName: String,
) {
    /** Apple Push Notification service (PushKit VoIP pushes on iOS). */
    APNS("apns"),

    /** Firebase Cloud Messaging: an Android app's registration token. */
    FCM("fcm"),

    /** Web Push: a browser subscription (its `endpoint` and `auth` go in [PushRegistration.data]). */
    WEBPUSH("webpush"),
}

/**
 * A device's push registration ([WilddogVideoClient.registerPush]): the push
 * service, the app id the push gateway knows the app by (a Sygnal `apps` key),
 * the device's token, and extra fields for the gateway.
 *
 * ```kotlin
 * client.registerPush(PushRegistration(PushProvider.FCM, appId = "com.example.app.android", pushKey = fcmToken))
 * ```
 */
data class PushRegistration(
    /** The push service. */
    val provider: PushProvider,
    /** The app id at the push gateway, up to 128 bytes (`appId`). */
    val appId: String,
    /** The device's token (an FCM registration token), up to 512 bytes (`pushKey`). */
    val pushKey: String,
    /** Extra fields for the gateway's `devices[].data`, up to 2 KiB as JSON (`data`); none by default. */
    val data: Map<String, String> = emptyMap(),
) {
    /** The options JSON of `wd_client_register_push`. */
    internal fun toJson(): String = buildString {
        append("{\"provider\":")
        appendJsonString(provider.apiName)
        append(",\"appId\":")
        appendJsonString(appId)
        append(",\"pushKey\":")
        appendJsonString(pushKey)
        if (data.isNotEmpty()) {
            append(",\"data\":")
            appendJsonObject(data)
        }
        append('}')
    }
}

/**
 * What became of a push registration of this client
 * ([WilddogVideoClient.onPushEvent]). Each names the registration by its
 * [appId] and [pushKey].
 */
sealed class PushEvent {
    /** The registration's app id. */
    abstract val appId: String

    /** The registration's push key. */
    abstract val pushKey: String

    /** The server stored the registration: invites wake this device while it has no connection. */
    data class Registered(override val appId: String, override val pushKey: String) : PushEvent()

    /**
     * The server refused the registration; [message] says why (a server without a
     * push gateway, a rate limit). A refusal for a rate limit or a server error
     * is retried on the next connection; any other drops the registration.
     */
    data class RegistrationFailed(
        override val appId: String,
        override val pushKey: String,
        /** The server's reason. */
        val message: String,
    ) : PushEvent()

    /** The registration is gone, as [WilddogVideoClient.unregisterPush] asked. */
    data class Unregistered(override val appId: String, override val pushKey: String) : PushEvent()

    /**
     * The push gateway reported the key dead (the token expired or was
     * replaced), and the server dropped the registration: fetch a fresh token and
     * register it.
     */
    data class Rejected(override val appId: String, override val pushKey: String) : PushEvent()

    internal companion object {
        /** The event of a `WD_PUSH_EVENT_KIND_*` the glue passes, or null for a kind this wrapper does not know. */
        fun of(kind: Int, appId: String, pushKey: String, message: String?): PushEvent? =
            when (PushEventKind.of(kind)) {
                PushEventKind.REGISTERED -> Registered(appId, pushKey)
                PushEventKind.REGISTRATION_FAILED -> RegistrationFailed(appId, pushKey, message.orEmpty())
                PushEventKind.UNREGISTERED -> Unregistered(appId, pushKey)
                PushEventKind.REJECTED -> Rejected(appId, pushKey)
                null -> null
            }
    }
}

/** Appends [map] as a JSON object of strings. */
internal fun StringBuilder.appendJsonObject(map: Map<String, String>) {
    append('{')
    var first = true
    for ((key, value) in map) {
        if (!first) append(',')
        first = false
        appendJsonString(key)
        append(':')
        appendJsonString(value)
    }
    append('}')
}
