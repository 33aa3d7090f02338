package com.wilddog.video

// Every failure of the native side arrives as one of these (constructed by
// the JNI glue: keep the constructors' parameter lists as they are).

/** Base class of every error the SDK throws. */
open class WilddogException(message: String) : RuntimeException(message)

/** An argument broke a rule; [field] names it by its API name (`participantId`, `lifetimeMs`, `url`, …). */
class InvalidArgumentException(
    /** The argument's name. */
    val field: String,
    /** What is wrong with it. */
    val problem: String,
) : WilddogException("$field: $problem")

/**
 * The call is not valid in the object's current status (e.g. `cancel()` after the
 * invite was accepted); nothing changed. [status] is the status by its API name.
 */
open class InvalidStateException(
    /** The status the object is in (`accepted`, `disconnected`, `closed`, …). */
    val status: String,
    message: String,
) : WilddogException(message)

/** The handle was closed ([AutoCloseable.close]) and can no longer be used. */
class HandleClosedException(
    /** The handle's type. */
    val what: String,
) : InvalidStateException("closed", "$what is closed")

/** The client has no connection to the server. */
class NotConnectedException(message: String) : WilddogException(message)

/** The server refused the client's token. */
class UnauthorizedException(message: String) : WilddogException(message)

/** The server could not be reached, or the connection broke. */
class NetworkException(message: String) : WilddogException(message)

/**
 * A `wss://` server's certificate was refused: not valid for the URL's host,
 * expired, or not signed by a trusted CA ([ClientOptions.caFile] /
 * [ClientOptions.caPem], else the built-in web roots). Retrying does not help.
 */
class TlsException(message: String) : WilddogException(message)

/** The server answered something the SDK does not understand. */
class ProtocolException(message: String) : WilddogException(message)

/** Native code panicked; the call did nothing reliable, but the process is intact. */
class NativePanicException(message: String) : WilddogException(message)
