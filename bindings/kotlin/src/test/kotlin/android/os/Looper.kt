// Stand in for Android's android.os.Looper and Handler on the JVM, so the test
// of the main-looper executor can check what the wrapper's reflection calls:
// the "main looper" is one thread named "main".
package android.os

import java.util.concurrent.ExecutorService
import java.util.concurrent.Executors

class Looper private constructor(internal val thread: ExecutorService) {
    companion object {
        private val main = Looper(Executors.newSingleThreadExecutor { Thread(it, "main").apply { isDaemon = true } })

        @JvmStatic
        fun getMainLooper(): Looper = main
    }
}

class Handler(private val looper: Looper) {
    fun post(r: Runnable): Boolean {
        looper.thread.execute(r)
        return true
    }
}
