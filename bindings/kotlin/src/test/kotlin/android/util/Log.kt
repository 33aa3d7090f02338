// Stands in for Android's android.util.Log on the JVM, so the test of
// LogSinks.android() can check what the wrapper's reflection calls. It records
// each call; nothing else in the tests loads it.
package android.util

import java.util.concurrent.LinkedBlockingQueue

object Log {
    /** Every `println(priority, tag, msg)` call. */
    val calls = LinkedBlockingQueue<Triple<Int, String, String>>()

    @JvmStatic
    fun println(priority: Int, tag: String, msg: String): Int {
        calls.put(Triple(priority, tag, msg))
        return msg.length
    }
}
