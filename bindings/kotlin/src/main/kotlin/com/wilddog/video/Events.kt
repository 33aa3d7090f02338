package com.wilddog.video

import java.util.concurrent.Executor
import java.util.concurrent.atomic.AtomicBoolean

/**
 * Delivers a client's events one at a time, in order, on its executor (the
 * serial-executor pattern of the [Executor] documentation): one drain task is
 * on the executor at a time, and it runs what is queued.
 */
internal class Dispatcher(private val executor: Executor) {
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

/** What a listener added late hears of the events before it. */
internal enum class Replay {
    /**
     * Nothing that another listener heard; events that no listener heard wait for
     * the next one and go to it alone (messages, invites, participants).
     */
    STREAM,

    /** Every event, once (ringing, an outcome, disconnected: at most one of each). */
    STICKY,

    /** The latest value (a status); equal values in a row are dropped. */
    LATEST,
}

/**
 * The listener bookkeeping of the events of one handle that share one native
 * sink, and that sink's installation.
 *
 * The native sink is a JNI global reference to the handle's sink object (its
 * "core"), which references the handle. The group installs it while it has a
 * listener and the handle has events to come, so a handle with listeners stays
 * reachable until its final event or [close][WilddogHandle.close]; without
 * listeners its events wait in the native SDK, and the handle is garbage as
 * soon as the app drops it.
 */
internal class SinkGroup(
    val dispatcher: Dispatcher,
    private val handle: NativeHandle,
    /** Sets (true) or removes (false) the native sink for the handle's id. */
    private val setNative: (id: Long, install: Boolean) -> Unit,
) {
    /** Guards [listeners], [finished] and every hub of the group. */
    val lock = Any()
    private var listeners = 0
    private var finished = false

    /** Guards [installed]; held while the native sink is set or removed. */
    private val installLock = Any()
    private var installed = false

    /** Called (with the install lock held) after the native sink was removed. */
    var onRemoved: (() -> Unit)? = null

    /** Throws [HandleClosedException] once the handle is closed. */
    fun checkOpen() {
        handle.use { }
    }

    /** Whether the glue holds this group's sink now (the handle is kept alive). */
    val isInstalled: Boolean get() = synchronized(installLock) { installed }

    /** Whether the handle had its final event (or was closed). */
    val isFinished: Boolean get() = synchronized(lock) { finished }

    /** Counts a listener in; call [sync] after releasing [lock]. */
    fun addedLocked() {
        listeners++
    }

    /** Counts a listener out; call [sync] after releasing [lock]. */
    fun removedLocked() {
        listeners--
    }

    /** The handle's final event came: its sink goes and never comes back. */
    fun finish() {
        synchronized(lock) { finished = true }
        sync()
    }

    /**
     * Marks the handle finished (`true`) or, unless it is closed, its events
     * going on after all (`false`: a client woken after `DISCONNECTED`), without
     * touching the native sink: [sync] applies it. For a caller that decides
     * under a lock of its own and must not call into the glue holding it.
     */
    fun markFinished(value: Boolean) {
        synchronized(lock) { if (value || !handle.isClosed) finished = value }
    }

    /** The handle is being closed: freeing it removes the sink natively. */
    fun closing() {
        synchronized(lock) { finished = true }
        synchronized(installLock) { installed = false }
    }

    /** Sets or removes the native sink to match the listeners. */
    fun sync() {
        synchronized(installLock) {
            val want = synchronized(lock) { listeners > 0 && !finished }
            if (want == installed) return
            // Recorded first: the glue may deliver an event (even the final one)
            // on this thread inside the call.
            installed = want
            try {
                handle.use { setNative(it, want) }
            } catch (e: HandleClosedException) {
                installed = false
            }
            if (!installed) onRemoved?.invoke()
        }
    }
}

/**
 * The listeners of one kind of event of a handle, and what a late listener
 * hears ([replay]). Listeners run through the client's [Dispatcher]: one at a
 * time, in the order of the events.
 */
internal class EventHub<E : Any>(private val group: SinkGroup, private val replay: Replay) {
    private class Entry<E>(val listener: (E) -> Unit) {
        @Volatile
        var active = true
    }

    private val entries = ArrayList<Entry<E>>(1)

    /** STREAM: events no listener heard; STICKY: every event; LATEST: the last one. */
    private val kept = ArrayDeque<E>(1)

    /** The latest value (LATEST), or null. */
    val latest: E? get() = synchronized(group.lock) { kept.lastOrNull() }

    /** Hands [event] to every listener (or keeps it, as [replay] says). False if dropped as a repeat. */
    fun emit(event: E): Boolean {
        val start = synchronized(group.lock) {
            when (replay) {
                Replay.STREAM -> if (entries.isEmpty()) {
                    kept.addLast(event)
                    return true
                }
                Replay.STICKY -> kept.addLast(event)
                Replay.LATEST -> {
                    if (kept.lastOrNull() == event) return false
                    kept.clear()
                    kept.addLast(event)
                }
            }
            group.dispatcher.enqueue(entries.map { task(it, event) })
        }
        if (start) group.dispatcher.launch()
        return true
    }

    /** LATEST: forgets the latest value (the next listener hears the native side's). */
    fun forget() {
        synchronized(group.lock) { if (replay == Replay.LATEST) kept.clear() }
    }

    /** Adds [listener]; it hears what [replay] says of the past, then every event. */
    fun listen(listener: (E) -> Unit): Subscription {
        group.checkOpen()
        val entry = Entry(listener)
        val start = synchronized(group.lock) {
            entries.add(entry)
            group.addedLocked()
            val past = kept.toList()
            if (replay == Replay.STREAM) kept.clear()
            group.dispatcher.enqueue(past.map { task(entry, it) })
        }
        if (start) group.dispatcher.launch()
        group.sync()
        val removed = AtomicBoolean(false)
        return Subscription {
            if (removed.compareAndSet(false, true)) {
                entry.active = false
                synchronized(group.lock) {
                    entries.remove(entry)
                    group.removedLocked()
                }
                group.sync()
            }
        }
    }

    private fun task(entry: Entry<E>, event: E) = Runnable { if (entry.active) entry.listener(event) }
}
