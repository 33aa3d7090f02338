package com.wilddog.video

import java.lang.ref.PhantomReference
import java.lang.ref.ReferenceQueue
import java.util.concurrent.ConcurrentHashMap
import java.util.concurrent.ThreadFactory
import java.util.concurrent.atomic.AtomicBoolean

/** A registration with a [HandleCleaner]: [clean] runs its action now, at most once in all. */
internal fun interface Cleanable {
    fun clean()
}

/**
 * Runs an action once an object is unreachable (the native handle's free), or
 * earlier through [Cleanable.clean] (`close()`). The action must not reference
 * the object, or the object never becomes unreachable.
 */
internal interface HandleCleaner {
    /** `"jdk"` or `"phantom"`. */
    val name: String

    /** Runs [action] once [owner] is unreachable, unless cleaned before. */
    fun register(owner: Any, action: Runnable): Cleanable
}

/**
 * The cleaner of the process, chosen once: `java.lang.ref.Cleaner` where the
 * runtime has it (Java 9+, Android API 33+), else a phantom-reference queue
 * with a thread of its own (Android API 24 to 32). The system property
 * `wilddog.video.cleaner` (`jdk` or `phantom`) forces one; the tests run
 * under both.
 */
internal object Cleaners {
    /** The system property that forces a cleaner. */
    const val PROPERTY = "wilddog.video.cleaner"

    /** The name of the cleaner's thread, whichever cleaner it is. */
    const val THREAD_NAME = "wilddog-video-cleaner"

    val instance: HandleCleaner by lazy { choose(System.getProperty(PROPERTY)) }

    /** The cleaner for [mode] (`jdk`, `phantom`, or null/empty for the best available). */
    fun choose(mode: String?): HandleCleaner =
        when (mode) {
            null, "" -> JdkCleaner.createOrNull() ?: PhantomCleaner()
            "jdk" -> JdkCleaner.createOrNull()
                ?: throw IllegalStateException("$PROPERTY=jdk, but java.lang.ref.Cleaner is not available")
            "phantom" -> PhantomCleaner()
            else -> throw IllegalArgumentException("$PROPERTY: expected jdk or phantom, got \"$mode\"")
        }

    internal val daemonThreads = ThreadFactory { r ->
        Thread(r, THREAD_NAME).apply { isDaemon = true }
    }
}

/**
 * `java.lang.ref.Cleaner`. Only this class names it, and it is loaded only
 * after [createOrNull] found the class, so runtimes without it never load it.
 */
internal class JdkCleaner private constructor(private val cleaner: java.lang.ref.Cleaner) : HandleCleaner {
    override val name: String get() = "jdk"

    override fun register(owner: Any, action: Runnable): Cleanable {
        val registration = cleaner.register(owner, action)
        return Cleanable { registration.clean() }
    }

    companion object {
        /** A cleaner with its own daemon thread, or null where the runtime has no `java.lang.ref.Cleaner`. */
        fun createOrNull(): HandleCleaner? =
            try {
                Class.forName("java.lang.ref.Cleaner")
                JdkCleaner(java.lang.ref.Cleaner.create(Cleaners.daemonThreads))
            } catch (e: ClassNotFoundException) {
                null
            } catch (e: LinkageError) {
                null
            }
    }
}

/**
 * A cleaner for runtimes without `java.lang.ref.Cleaner`: each registration is
 * a [PhantomReference] on one queue, drained by one daemon thread that runs the
 * actions. The registrations are held in a set until they run, as the JDK's
 * cleaner does, so a registration is never collected before its object.
 */
internal class PhantomCleaner : HandleCleaner {
    override val name: String get() = "phantom"

    private val queue = ReferenceQueue<Any>()
    private val live: MutableSet<Registration> = ConcurrentHashMap.newKeySet()
    private val started = AtomicBoolean(false)

    private inner class Registration(owner: Any, private val action: Runnable) :
        PhantomReference<Any>(owner, queue), Cleanable {
        private val done = AtomicBoolean(false)

        override fun clean() {
            if (!done.compareAndSet(false, true)) return
            live.remove(this)
            clear()
            action.run()
        }
    }

    override fun register(owner: Any, action: Runnable): Cleanable {
        if (started.compareAndSet(false, true)) Cleaners.daemonThreads.newThread(::drain).start()
        return Registration(owner, action).also { live.add(it) }
    }

    private fun drain() {
        while (true) {
            val ref = try {
                queue.remove()
            } catch (e: InterruptedException) {
                continue
            }
            try {
                (ref as Cleanable).clean()
            } catch (e: Throwable) {
                WilddogVideo.reportListenerError(e)
            }
        }
    }
}
