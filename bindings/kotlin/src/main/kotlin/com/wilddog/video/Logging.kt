package com.wilddog.video

import java.io.PrintWriter
import java.io.StringWriter
import java.lang.reflect.Method

/** Severity of a log record; each level includes those above it. */
enum class LogLevel(
    /** The `WD_LOG_LEVEL_*` value. */
    internal val value: Int,
) {
    /** Something failed. */
    ERROR(1),

    /** Something unexpected that the SDK handled: a dropped connection, an undecodable frame. */
    WARN(2),

    /** Milestones: connected (uid, device), disconnected and why. */
    INFO(3),

    /** Detail for debugging: connection steps, the welcome. */
    DEBUG(4),

    /** Everything, including per-frame detail. */
    TRACE(5),
    ;

    internal companion object {
        fun of(value: Int): LogLevel = entries.firstOrNull { it.value == value } ?: TRACE
    }
}

/**
 * Receives the SDK's log records ([WilddogVideo.logSink]): those of the native
 * SDK (target `wilddog_video::…`), of its JNI glue (`wilddog_video::jni`) and of
 * this wrapper (`wilddog_video::kotlin`, e.g. an exception a listener threw).
 *
 * It may be called on any thread, several at once, and possibly while the
 * native SDK holds a lock: return quickly, and never call the SDK from it.
 */
fun interface LogSink {
    /**
     * One record: [target] names the part of the SDK it comes from, [error] is
     * the exception it is about, if any.
     */
    fun log(level: LogLevel, target: String, message: String, error: Throwable?)
}

/** The log sinks the SDK provides. */
object LogSinks {
    /** The tag of every record on Android's log. */
    const val ANDROID_TAG = "WilddogVideo"

    /** Prints each record as one line (plus a stack trace) to `System.err`. */
    @JvmField
    val STDERR: LogSink = LogSink { level, target, message, error ->
        val line = "wilddog-video $level $target: $message"
        if (error == null) {
            System.err.println(line)
        } else {
            System.err.println(line + "\n" + stackTrace(error))
        }
    }

    /**
     * Android's log (`android.util.Log`, the tag [ANDROID_TAG], the target at the
     * start of the message), found by reflection so the library needs no Android
     * classes to compile; `null` where there is no `android.util.Log`.
     */
    @JvmStatic
    fun android(): LogSink? {
        val log = try {
            Class.forName("android.util.Log")
        } catch (e: ClassNotFoundException) {
            return null
        } catch (e: LinkageError) {
            return null
        }
        val logPrintln: Method = try {
            log.getMethod("println", Int::class.javaPrimitiveType, String::class.java, String::class.java)
        } catch (e: NoSuchMethodException) {
            return null
        }
        return LogSink { level, target, message, error ->
            // android.util.Log's priorities: VERBOSE 2, DEBUG 3, INFO 4, WARN 5, ERROR 6.
            val priority = when (level) {
                LogLevel.ERROR -> 6
                LogLevel.WARN -> 5
                LogLevel.INFO -> 4
                LogLevel.DEBUG -> 3
                LogLevel.TRACE -> 2
            }
            val text = if (error == null) "$target: $message" else "$target: $message\n${stackTrace(error)}"
            logPrintln.invoke(null, priority, ANDROID_TAG, text)
        }
    }

    private fun stackTrace(error: Throwable): String =
        StringWriter().also { error.printStackTrace(PrintWriter(it)) }.toString().trimEnd()
}

/**
 * The object the JNI glue hands the native SDK's log records to; forwards
 * them to [WilddogVideo.logSink]. Called by the glue on any thread.
 */
internal class NativeLogBridge {
    /** Called by the glue: one record of the native side. */
    fun log(level: Int, target: String, message: String) {
        WilddogVideo.log(LogLevel.of(level), target, message, null)
    }

    /** Called by the glue with an exception that escaped [log] (a log sink threw). */
    fun reportError(e: Throwable) {
        // Not through the log sink: it is what threw.
        System.err.println("wilddog-video: the log sink threw $e")
    }
}
