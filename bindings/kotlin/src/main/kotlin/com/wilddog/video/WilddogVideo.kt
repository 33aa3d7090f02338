package com.wilddog.video

import java.util.concurrent.Executor
import java.util.concurrent.Executors

/** Hears every exception a listener throws ([WilddogVideo.listenerErrorHandler]). */
fun interface ListenerErrorHandler {
    /** Called on the thread the listener ran on, after it threw. */
    fun onListenerError(error: Throwable)
}

/** Process-wide settings and facts of the SDK. */
object WilddogVideo {
    /** The target of the records this Kotlin layer logs itself. */
    const val LOG_TARGET = "wilddog_video::kotlin"

    /** The version of the native library, `"MAJOR.MINOR.PATCH"` (the C `wd_version()`). */
    @JvmStatic
    val version: String
        get() = NativeLib.version()

    /**
     * Where log records go: by default Android's log (`android.util.Log`, tag
     * `WilddogVideo`) on Android and `System.err` elsewhere ([LogSinks]). See
     * [LogSink] for the rules a sink keeps.
     */
    @JvmStatic
    @Volatile
    var logSink: LogSink = defaultLogSink()

    /**
     * The most verbose level that reaches [logSink]: [LogLevel.WARN] by default
     * (failures and dropped connections); [LogLevel.INFO] adds milestones such as
     * "connected", [LogLevel.DEBUG] the connection's steps.
     */
    @JvmStatic
    var logLevel: LogLevel = LogLevel.WARN
        set(value) {
            synchronized(this) {
                field = value
                NativeLib.setLogSink(NativeLib.logBridge, value.value)
            }
        }

    /**
     * Receives every exception a listener throws. The SDK catches it, so it never
     * reaches the event thread or your executor, and later events are delivered
     * as usual. The default logs it at [LogLevel.ERROR] to [logSink]; set it to
     * report or crash as your app prefers.
     */
    @JvmStatic
    @Volatile
    var listenerErrorHandler: ListenerErrorHandler = ListenerErrorHandler { e ->
        log(LogLevel.ERROR, LOG_TARGET, "a listener threw ${e.javaClass.name}: ${e.message}", e)
    }

    /**
     * Where listeners run when [WilddogVideoClient.connect] is given no executor:
     * the main thread (its `Looper`) on Android, else one daemon thread of the
     * process named `wilddog-video-events`. Every client shares it, and it runs
     * one listener at a time: keep listeners short, and never block one waiting
     * for another event.
     */
    @JvmStatic
    val defaultExecutor: Executor by lazy { Platform.mainLooperExecutor() ?: eventThread() }

    /**
     * Makes a client and returns at once; it connects in the background
     * ([WilddogVideoClient.start]). An app woken by a push makes its client so,
     * then hands the push to [WilddogVideoClient.handlePush].
     *
     * @throws InvalidArgumentException naming the bad option.
     */
    @JvmStatic
    @JvmOverloads
    fun start(options: ClientOptions, eventExecutor: Executor? = null): WilddogVideoClient =
        WilddogVideoClient.start(options, eventExecutor)

    /** [start] with one server and a token. */
    @JvmStatic
    @JvmOverloads
    fun start(url: String, token: String, eventExecutor: Executor? = null): WilddogVideoClient =
        WilddogVideoClient.start(url, token, eventExecutor)

    /** The name of the default executor's thread off Android. */
    const val EVENT_THREAD_NAME = "wilddog-video-events"

    private fun eventThread(): Executor =
        Executors.newSingleThreadExecutor { r -> Thread(r, EVENT_THREAD_NAME).apply { isDaemon = true } }

    private fun defaultLogSink(): LogSink = (if (Platform.isAndroid) LogSinks.android() else null) ?: LogSinks.STDERR

    internal fun log(level: LogLevel, target: String, message: String, error: Throwable?) {
        if (level.value > logLevel.value) return
        try {
            logSink.log(level, target, message, error)
        } catch (e: Throwable) {
            System.err.println("wilddog-video: the log sink threw $e")
        }
    }

    internal fun reportListenerError(e: Throwable) {
        try {
            listenerErrorHandler.onListenerError(e)
        } catch (inner: Throwable) {
            log(LogLevel.ERROR, LOG_TARGET, "the listener error handler threw ${inner.javaClass.name}", inner)
        }
    }
}

/** What the SDK reads of the platform it runs on. */
internal object Platform {
    /** Whether this is Android (ART names itself `Dalvik`). */
    val isAndroid: Boolean = System.getProperty("java.vm.name")?.contains("Dalvik") == true

    /**
     * An executor posting to Android's main thread (`Handler(Looper.getMainLooper()).post`),
     * built by reflection so the library needs no Android classes to compile; null
     * off Android.
     */
    fun mainLooperExecutor(): Executor? = if (isAndroid) looperExecutor() else null

    /** The reflection behind [mainLooperExecutor], without the platform check. */
    internal fun looperExecutor(): Executor? =
        try {
            val looperClass = Class.forName("android.os.Looper")
            val handlerClass = Class.forName("android.os.Handler")
            val looper = looperClass.getMethod("getMainLooper").invoke(null) ?: return null
            val handler = handlerClass.getConstructor(looperClass).newInstance(looper)
            val post = handlerClass.getMethod("post", Runnable::class.java)
            Executor { task ->
                if (post.invoke(handler, task) != true) {
                    throw java.util.concurrent.RejectedExecutionException("the main looper is quitting")
                }
            }
        } catch (e: ReflectiveOperationException) {
            null
        } catch (e: LinkageError) {
            null
        }
}
