//! Every Java class and method the glue looks up by name, in one place.
//!
//! A release build of an Android app shrinks and renames classes with R8
//! (or ProGuard). Whatever the glue finds by name must survive that, so
//! `bindings/kotlin/consumer-rules.pro` keeps each name listed here, and
//! the Kotlin test `consumer rules keep every name the JNI glue looks up`
//! reads this file, fails when a rule is missing, and checks that each
//! method exists in the compiled Kotlin classes with this descriptor. No
//! other file of the glue names a class or method in a string literal (the
//! same test checks that too).
//!
//! Exported `Java_com_wilddog_video_NativeLib_*` functions are found by
//! the JVM through `NativeLib`'s `external` methods; the rules keep those
//! as well.

/// A method of a Kotlin class the glue calls: the class in JNI form
/// (`com/wilddog/video/X`), the method's name and its JNI descriptor.
pub(crate) struct Method {
    /// The class that declares it.
    pub class: &'static str,
    /// The method's name.
    pub name: &'static str,
    /// Its JNI descriptor.
    pub sig: &'static str,
}

/// `OutgoingCore.onEvent(kind, reason, conversation)`.
pub(crate) const OUTGOING_ON_EVENT: Method = Method {
    class: "com/wilddog/video/OutgoingCore",
    name: "onEvent",
    sig: "(IIJ)V",
};

/// `OutgoingCore.reportError(Throwable)`.
pub(crate) const OUTGOING_REPORT_ERROR: Method = Method {
    class: "com/wilddog/video/OutgoingCore",
    name: "reportError",
    sig: "(Ljava/lang/Throwable;)V",
};

/// `IncomingCore.onEvent(kind, reason, conversation)`.
pub(crate) const INCOMING_ON_EVENT: Method = Method {
    class: "com/wilddog/video/IncomingCore",
    name: "onEvent",
    sig: "(IIJ)V",
};

/// `IncomingCore.reportError(Throwable)`.
pub(crate) const INCOMING_REPORT_ERROR: Method = Method {
    class: "com/wilddog/video/IncomingCore",
    name: "reportError",
    sig: "(Ljava/lang/Throwable;)V",
};

/// `ConversationCore.onEvent(kind, uid, device, payload, leftReason)`.
pub(crate) const CONVERSATION_ON_EVENT: Method = Method {
    class: "com/wilddog/video/ConversationCore",
    name: "onEvent",
    sig: "(ILjava/lang/String;Ljava/lang/String;Ljava/lang/String;I)V",
};

/// `ConversationCore.reportError(Throwable)`.
pub(crate) const CONVERSATION_REPORT_ERROR: Method = Method {
    class: "com/wilddog/video/ConversationCore",
    name: "reportError",
    sig: "(Ljava/lang/Throwable;)V",
};

/// `ClientSink.onInvite(incomingHandle)`.
pub(crate) const CLIENT_ON_INVITE: Method = Method {
    class: "com/wilddog/video/ClientSink",
    name: "onInvite",
    sig: "(J)V",
};

/// `ClientSink.onConnectionState(state)`.
pub(crate) const CLIENT_ON_CONNECTION_STATE: Method = Method {
    class: "com/wilddog/video/ClientSink",
    name: "onConnectionState",
    sig: "(I)V",
};

/// `ClientSink.onPushEvent(kind, appId, pushKey, message)`.
pub(crate) const CLIENT_ON_PUSH_EVENT: Method = Method {
    class: "com/wilddog/video/ClientSink",
    name: "onPushEvent",
    sig: "(ILjava/lang/String;Ljava/lang/String;Ljava/lang/String;)V",
};

/// `ClientSink.reportError(Throwable)`.
pub(crate) const CLIENT_REPORT_ERROR: Method = Method {
    class: "com/wilddog/video/ClientSink",
    name: "reportError",
    sig: "(Ljava/lang/Throwable;)V",
};

/// `NativeLogBridge.log(level, target, message)`.
pub(crate) const LOG: Method = Method {
    class: "com/wilddog/video/NativeLogBridge",
    name: "log",
    sig: "(ILjava/lang/String;Ljava/lang/String;)V",
};

/// `NativeLogBridge.reportError(Throwable)`.
pub(crate) const LOG_REPORT_ERROR: Method = Method {
    class: "com/wilddog/video/NativeLogBridge",
    name: "reportError",
    sig: "(Ljava/lang/Throwable;)V",
};

/// `NativeErrors.create(kind, first, second, cause): Throwable`, a static
/// method: every exception the glue throws is made by it.
pub(crate) const ERRORS_CREATE: Method = Method {
    class: "com/wilddog/video/NativeErrors",
    name: "create",
    sig: "(ILjava/lang/String;Ljava/lang/String;Ljava/lang/Throwable;)Ljava/lang/Throwable;",
};

/// Thrown when `NativeErrors` cannot be reached (a shrinker removed it).
pub(crate) const FALLBACK_EXCEPTION: &str = "java/lang/RuntimeException";

/// Errors of the JVM itself (out of memory, …), passed through unwrapped.
pub(crate) const JAVA_ERROR: &str = "java/lang/Error";

/// The element class of string arrays.
pub(crate) const STRING: &str = "java/lang/String";
