package com.wilddog.video

/**
 * The JNI surface of `libwilddog_video_jni` (bindings/kotlin/native). Every
 * handle is a `Long` id into the glue's handle table; a stale id throws
 * [HandleClosedException] from the native side. Not public API: use the
 * classes of this package.
 */
internal object NativeLib {
    /** System property naming the native library's path (else `System.loadLibrary`). */
    const val LIBRARY_PROPERTY = "wilddog.video.native"

    /** Receives the native side's log records (one for the process). */
    val logBridge = NativeLogBridge()

    init {
        val path = System.getProperty(LIBRARY_PROPERTY)
        if (path.isNullOrEmpty()) System.loadLibrary("wilddog_video_jni") else System.load(path)
        try {
            setLogSink(logBridge, WilddogVideo.logLevel.value)
        } catch (e: WilddogException) {
            // The SDK's records go elsewhere (another logger of the process took
            // them); the SDK itself works as ever.
            System.err.println("wilddog-video: the native log could not be routed: ${e.message}")
        }
    }

    // Library
    @JvmStatic external fun version(): String
    @JvmStatic external fun setLogSink(sink: Any?, maxLevel: Int)

    // Client
    @JvmStatic external fun clientConnectWith(configJson: String): Long
    @JvmStatic external fun clientFree(handle: Long)
    @JvmStatic external fun clientUid(handle: Long): String
    @JvmStatic external fun clientDevice(handle: Long): String
    @JvmStatic external fun clientConnectionState(handle: Long): Int
    @JvmStatic external fun clientLiveCount(handle: Long): Int
    @JvmStatic external fun clientInvite(
        handle: Long,
        participantId: String,
        mode: Int,
        userData: String?,
        offer: String?,
        lifetimeMs: Long,
    ): Long
    @JvmStatic external fun clientSetInviteSink(handle: Long, sink: Any?)
    @JvmStatic external fun clientSetConnectionSink(handle: Long, sink: Any?)
    @JvmStatic external fun clientDisconnect(handle: Long)
    @JvmStatic external fun clientDispatch(handle: Long, timeoutMs: Long): Int
    @JvmStatic external fun clientStartWith(configJson: String): Long
    @JvmStatic external fun clientHandlePush(handle: Long, payloadJson: String): Long
    @JvmStatic external fun clientRegisterPush(handle: Long, optionsJson: String)
    @JvmStatic external fun clientUnregisterPush(handle: Long, appId: String, pushKey: String)
    @JvmStatic external fun clientSetPushSink(handle: Long, sink: Any?)

    // OutgoingInvite
    @JvmStatic external fun outgoingFree(handle: Long)
    @JvmStatic external fun outgoingTo(handle: Long): String
    @JvmStatic external fun outgoingConversationId(handle: Long): String
    @JvmStatic external fun outgoingMode(handle: Long): Int
    @JvmStatic external fun outgoingStatus(handle: Long): Int
    @JvmStatic external fun outgoingFailureReason(handle: Long): Int
    @JvmStatic external fun outgoingRejectReason(handle: Long): Int
    @JvmStatic external fun outgoingCancelReason(handle: Long): Int
    @JvmStatic external fun outgoingAnswer(handle: Long): String?
    @JvmStatic external fun outgoingAnswerUserData(handle: Long): String?
    @JvmStatic external fun outgoingConversation(handle: Long): Long
    @JvmStatic external fun outgoingCancel(handle: Long)
    @JvmStatic external fun outgoingSetSink(handle: Long, sink: Any?)

    // IncomingInvite
    @JvmStatic external fun incomingFree(handle: Long)
    @JvmStatic external fun incomingFrom(handle: Long): String
    @JvmStatic external fun incomingConversationId(handle: Long): String
    @JvmStatic external fun incomingUserData(handle: Long): String?
    @JvmStatic external fun incomingOffer(handle: Long): String?
    @JvmStatic external fun incomingMode(handle: Long): Int
    @JvmStatic external fun incomingStatus(handle: Long): Int
    @JvmStatic external fun incomingFailureReason(handle: Long): Int
    @JvmStatic external fun incomingCancelReason(handle: Long): Int
    @JvmStatic external fun incomingConversation(handle: Long): Long
    @JvmStatic external fun incomingAccept(handle: Long, answer: String?, userData: String?)
    @JvmStatic external fun incomingReject(handle: Long, reason: Int)
    @JvmStatic external fun incomingSetSink(handle: Long, sink: Any?)
    @JvmStatic external fun incomingIsConfirmed(handle: Long): Boolean
    @JvmStatic external fun incomingSame(handle: Long, other: Long): Boolean
    @JvmStatic external fun incomingForget(handle: Long)

    // Conversation
    @JvmStatic external fun conversationFree(handle: Long)
    @JvmStatic external fun conversationForget(handle: Long)
    @JvmStatic external fun conversationSend(handle: Long, to: String?, payload: String)
    @JvmStatic external fun conversationInvite(
        handle: Long,
        participantId: String,
        userData: String?,
        offer: String?,
        lifetimeMs: Long,
    ): Long
    @JvmStatic external fun conversationId(handle: Long): String
    @JvmStatic external fun conversationMode(handle: Long): Int
    @JvmStatic external fun conversationIsConnected(handle: Long): Boolean
    @JvmStatic external fun conversationParticipants(handle: Long): Array<String>
    @JvmStatic external fun conversationDisconnect(handle: Long)
    @JvmStatic external fun conversationSetSink(handle: Long, sink: Any?)

    // Diagnostics
    @JvmStatic external fun globalRefCount(): Long
    @JvmStatic external fun liveHandleCount(): Long
    @JvmStatic external fun listenerExceptionCount(): Long
    @JvmStatic external fun panicForTest()
}

/**
 * Counters of the native glue, for the leak checks of the tests. They are
 * process-wide (every client together).
 */
internal object NativeDiagnostics {
    /** JNI global references the glue holds right now (one per installed listener). */
    @JvmStatic fun globalRefCount(): Long = NativeLib.globalRefCount()

    /** Native handles not yet freed (clients, invites, conversations). */
    @JvmStatic fun liveHandleCount(): Long = NativeLib.liveHandleCount()

    /** Exceptions that escaped into the glue from a listener call and were cleared there. */
    @JvmStatic fun listenerExceptionCount(): Long = NativeLib.listenerExceptionCount()
}
