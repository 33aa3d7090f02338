package com.wilddog.video

import java.lang.ref.Cleaner
import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean
import java.util.concurrent.atomic.AtomicLong

/** Global settings of the Kotlin wrapper. */
object WilddogVideo {
    /**
     * Receives every exception a listener lambda throws (the SDK catches it, so it
     * never reaches the event thread or your executor). The default prints it to
     * `System.err`; set it to log or crash as your app prefers.
     */
    @JvmStatic
    @Volatile
    var listenerErrorHandler: (Throwable) -> Unit = { e ->
        System.err.println("wilddog-video: a listener threw $e")
        e.printStackTrace()
    }

    internal fun reportListenerError(e: Throwable) {
        try {
            listenerErrorHandler(e)
        } catch (inner: Throwable) {
            inner.printStackTrace()
        }
    }
}

/** One Cleaner (one daemon thread) for every handle of the process. */
internal val CLEANER: Cleaner = Cleaner.create()

/**
 * Owns one native id. Calls go through [use], which counts calls in flight so that
 * [run] (close, or the Cleaner) frees the id only after the last call returned
 * (the pattern of uniffi's ObjectTemplate and libsignal's NativeHandleGuard).
 * It references only the id and a free function, never the Kotlin object, so it
 * can be the Cleaner's action.
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
 * registered with a [Cleaner] so a handle you forget is still freed once it is
 * garbage. Closing frees the native handle only: it never cancels, rejects or
 * leaves anything (closing a [WilddogVideoClient] does close its connection).
 * After [close], live properties and methods throw [HandleClosedException].
 */
abstract class WilddogHandle internal constructor(
    id: Long,
    what: String,
    free: (Long) -> Unit,
) : AutoCloseable {
    internal val handle = NativeHandle(id, what, free)
    private val cleanable = CLEANER.register(this, handle)

    /** Whether [close] was called. */
    val isClosed: Boolean get() = handle.isClosed

    /** Frees the native handle. Calling it again does nothing. */
    override fun close() = cleanable.clean()

    /** Closes the handle if [block] throws, then rethrows. */
    internal inline fun <R> closeOnFailure(block: () -> R): R =
        try {
            block()
        } catch (e: Throwable) {
            close()
            throw e
        }
}

/**
 * Delivers a client's events one at a time, in order: on [executor] when given,
 * else on the thread that has them (the SDK's event thread, or — for a listener
 * registered after its event — the registering thread, unless a delivery is
 * already running, which then takes it over). The serial-executor pattern of
 * the [Executor] documentation.
 */
internal class Dispatcher(private val executor: Executor?) {
    private val tasks = ArrayDeque<Runnable>()
    private var running = false

    /** Queues [batch]; true when the caller must call [launch] (outside its locks). */
    fun enqueue(batch: List<Runnable>): Boolean =
        synchronized(this) {
            if (batch.isEmpty()) return false
            tasks.addAll(batch)
            if (running) false else true.also { running = true }
        }

    fun launch() {
        if (executor == null) {
            drain()
            return
        }
        try {
            executor.execute(::drain)
        } catch (e: Throwable) {
            // Rejected (e.g. shut down): keep the tasks for the next event.
            synchronized(this) { running = false }
            WilddogVideo.reportListenerError(e)
        }
    }

    private fun drain() {
        while (true) {
            val task = synchronized(this) {
                tasks.removeFirstOrNull() ?: run {
                    running = false
                    null
                }
            } ?: return
            try {
                task.run()
            } catch (e: Throwable) {
                WilddogVideo.reportListenerError(e)
            }
        }
    }
}

/**
 * The events of one handle and its listeners. Every listener hears every event
 * exactly once, in order, whether it was added before or after the event.
 *
 * Without [replay] (for streams such as messages, which must not pile up) the
 * events that came before the first listener are handed to it, and later
 * listeners hear only what follows.
 */
internal class EventHub<E : Any>(private val dispatcher: Dispatcher, private val replay: Boolean = true) {
    private val history = ArrayList<E>(2)
    private val listeners = ArrayList<(E) -> Unit>(2)

    fun emit(event: E) {
        val start = synchronized(this) {
            if (replay || listeners.isEmpty()) history.add(event)
            dispatcher.enqueue(listeners.map { l -> Runnable { l(event) } })
        }
        if (start) dispatcher.launch()
    }

    fun listen(listener: (E) -> Unit) {
        val start = synchronized(this) {
            listeners.add(listener)
            val past = dispatcher.enqueue(history.map { e -> Runnable { listener(e) } })
            if (!replay) history.clear()
            past
        }
        if (start) dispatcher.launch()
    }
}
