package com.wilddog.video

import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/**
 * Owns one native id. Calls go through [use], which counts calls in flight so that
 * [run] (close, or the cleaner) frees the id only after the last call returned
 * (the pattern of uniffi's ObjectTemplate and libsignal's NativeHandleGuard).
 * It references only the id and a free function, never the Kotlin object, so it
 * can be the cleaner's action.
 */
internal class NativeHandle(
    private val id: Long,
    private val what: String,
    private val free: (Long) -> Unit,
) : Runnable {
    /** 1 for the owner's reference plus one per call in flight; 0 once freed. */
    private val calls = AtomicLong(1)
    private val closed = AtomicBoolean(false)

    /** Test hook: called with the id after it was freed. */
    @Volatile
    internal var onFreed: ((Long) -> Unit)? = null

    val isClosed: Boolean get() = closed.get()

    /** Runs [block] with the id; [HandleClosedException] once closed. */
    fun <R> use(block: (Long) -> R): R {
        while (true) {
            if (closed.get()) throw HandleClosedException(what)
            val n = calls.get()
            if (n == 0L) throw HandleClosedException(what)
            if (calls.compareAndSet(n, n + 1)) break
        }
        try {
            return block(id)
        } finally {
            release()
        }
    }

    /** Closes: frees the id now, or when the last call in flight returns. Idempotent. */
    override fun run() {
        if (closed.compareAndSet(false, true)) release()
    }

    private fun release() {
        if (calls.decrementAndGet() == 0L) {
            try {
                free(id)
            } catch (e: Throwable) {
                WilddogVideo.reportListenerError(e)
            }
            onFreed?.invoke(id)
        }
    }
}

/**
 * Base of every SDK object: [AutoCloseable] (use it with `use { }`), and
 * registered with a cleaner so a handle the app no longer references is still
 * freed once it is garbage.
 *
 * **Kept alive by its listeners.** While a handle has a listener and events to
 * come, the SDK keeps it reachable, whatever the app keeps: an invite with an
 * outcome listener lives until its outcome, a conversation with a listener until
 * `disconnected`, a client with a listener until it is disconnected. After its
 * final event, or once closed, it is garbage like any object.
 *
 * Closing frees the native handle only: it never cancels, rejects or leaves
 * anything (closing a [WilddogVideoClient] does close its connection), and the
 * handle's listeners hear nothing more. After [close], live properties and
 * methods throw [HandleClosedException].
 */
abstract class WilddogHandle internal constructor(
    id: Long,
    what: String,
    free: (Long) -> Unit,
) : AutoCloseable {
    internal val handle = NativeHandle(id, what, free)
    private val cleanable = Cleaners.instance.register(this, handle)
    private val closing = AtomicBoolean(false)

    /** Whether [close] was called. */
    val isClosed: Boolean get() = handle.isClosed

    /** Frees the native handle. Calling it again does nothing. */
    override fun close() {
        if (!closing.compareAndSet(false, true)) return
        beforeClose()
        cleanable.clean()
        afterClose()
    }

    /** Stops the handle's listeners from being installed again (they are removed with the native handle). */
    internal open fun beforeClose() {}

    /** Runs once the native handle is freed. */
    internal open fun afterClose() {}

    /** Closes the handle if [block] throws, then rethrows. */
    internal inline fun <R> closeOnFailure(block: () -> R): R =
        try {
            block()
        } catch (e: Throwable) {
            close()
            throw e
        }
}
