package com.wilddog.video

/**
 * Every error the SDK throws. The hierarchy is sealed: a `when` over it can be
 * exhaustive, and the SDK throws nothing else for a failure of its own (a bad
 * argument of the JVM's kind, such as a closed executor, keeps its own type).
 */
sealed class WilddogException(
    message: String,
    cause: Throwable? = null,
) : RuntimeException(message, cause)

/** An argument broke a rule; [field] names it by its API name (`participantId`, `lifetimeMs`, `url`, …). */
class InvalidArgumentException internal constructor(
    /** The argument's name. */
    val field: String,
    /** What is wrong with it. */
    val problem: String,
    cause: Throwable? = null,
) : WilddogException("$field: $problem", cause)

/**
 * The state an object was in when a call was refused
 * ([InvalidStateException.state]): the status of an invite, a conversation's
 * end, a closed handle, or a call made where it may not be.
 */
enum class ObjectState(
    /** The API name (`"accepted"`, `"closed"`, …). */
    val apiName: String,
) {
    /** The invite is still ringing. */
    PENDING("pending"),

    /** This device accepted and waits for the caller. */
    ACCEPTING("accepting"),

    /** This device rejected and waits for the caller. */
    REJECTING("rejecting"),

    /** The invite was accepted. */
    ACCEPTED("accepted"),

    /** The invite was rejected. */
    REJECTED("rejected"),

    /** The invite was canceled. */
    CANCELED("canceled"),

    /** The invite failed. */
    FAILED("failed"),

    /** This device is no longer in the conversation. */
    DISCONNECTED("disconnected"),

    /** The object's part in the SDK is over (its invite or conversation ended). */
    FINISHED("finished"),

    /** The handle was closed ([AutoCloseable.close]). */
    CLOSED("closed"),

    /**
     * A client made with [WilddogVideoClient.start] has not connected yet: its
     * [WilddogVideoClient.uid] and [WilddogVideoClient.device] are not known.
     */
    NOT_YET_CONNECTED("not_yet_connected"),

    /** Called from inside a listener, where this call may not run ([WilddogVideoClient.dispatch]). */
    IN_CALLBACK("in_callback"),

    /** [WilddogVideoClient.dispatch] on a client not in [Dispatch.MANUAL] mode. */
    THREAD_DISPATCH("thread_dispatch"),

    /** A state this version of the wrapper does not know (a newer native library). */
    UNKNOWN("unknown"),
    ;

    internal companion object {
        fun of(apiName: String): ObjectState = entries.firstOrNull { it.apiName == apiName } ?: UNKNOWN
    }
}

/**
 * The call is not valid in the object's current state (e.g. `cancel()` after the
 * invite was accepted); nothing changed.
 */
open class InvalidStateException internal constructor(
    /** The state the object is in. */
    val state: ObjectState,
    message: String,
    cause: Throwable? = null,
) : WilddogException(message, cause)

/** The handle was closed ([AutoCloseable.close]) and can no longer be used; [state] is [ObjectState.CLOSED]. */
class HandleClosedException internal constructor(
    /** The handle's type. */
    val what: String,
) : InvalidStateException(ObjectState.CLOSED, "$what is closed")

/** The client has no connection to the server. */
class NotConnectedException internal constructor(message: String, cause: Throwable? = null) :
    WilddogException(message, cause)

/** The server refused the client's token. */
class UnauthorizedException internal constructor(message: String, cause: Throwable? = null) :
    WilddogException(message, cause)

/** The server could not be reached, or the connection broke. */
open class NetworkException internal constructor(message: String, cause: Throwable? = null) :
    WilddogException(message, cause)

/**
 * A `wss://` server's certificate was refused: not valid for the URL's host,
 * expired, or not signed by a trusted CA ([ClientOptions.caFile] /
 * [ClientOptions.caPem], else the built-in web roots). A [NetworkException]
 * that retrying does not cure.
 */
class TlsException internal constructor(message: String, cause: Throwable? = null) :
    NetworkException(message, cause)

/** The server answered something the SDK does not understand. */
class ProtocolException internal constructor(message: String, cause: Throwable? = null) :
    WilddogException(message, cause)

/** Native code panicked; the call did nothing reliable, but the process is intact. */
class NativePanicException internal constructor(message: String) : WilddogException(message)

/**
 * A failure inside the SDK's JNI layer (its [cause], when there is one, is the
 * JVM's exception), or an error of a newer native library this wrapper does
 * not know.
 */
class InternalException internal constructor(message: String, cause: Throwable? = null) :
    WilddogException(message, cause)

/**
 * Makes the exceptions the JNI glue throws (its `errors.rs` has the same kinds).
 * The glue finds [create] by name: the consumer ProGuard rules keep it.
 */
internal object NativeErrors {
    const val INVALID_ARGUMENT = 1
    const val INVALID_STATE = 2
    const val HANDLE_CLOSED = 3
    const val NOT_CONNECTED = 4
    const val UNAUTHORIZED = 5
    const val NETWORK = 6
    const val TLS = 7
    const val PROTOCOL = 8
    const val PANIC = 9
    const val INTERNAL = 10

    /** The exception of [kind] with the glue's two strings (the second empty where unused). */
    @JvmStatic
    fun create(kind: Int, first: String, second: String, cause: Throwable?): Throwable =
        when (kind) {
            INVALID_ARGUMENT -> InvalidArgumentException(first, second, cause)
            INVALID_STATE -> InvalidStateException(ObjectState.of(first), second, cause)
            HANDLE_CLOSED -> HandleClosedException(first)
            NOT_CONNECTED -> NotConnectedException(first, cause)
            UNAUTHORIZED -> UnauthorizedException(first, cause)
            NETWORK -> NetworkException(first, cause)
            TLS -> TlsException(first, cause)
            PROTOCOL -> ProtocolException(first, cause)
            PANIC -> NativePanicException(first)
            else -> InternalException(if (second.isEmpty()) first else "$first: $second", cause)
        }
}
