package com.wilddog.video

import java.lang.ref.WeakReference
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.atomic.AtomicInteger
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertNull

/** Registers a fresh object with [cleaner]; returns a weak reference to it and counts runs of its action. */
private fun registerGarbage(cleaner: HandleCleaner, ran: LinkedBlockingQueue<String>, tag: String): WeakReference<Any> {
    val owner = Any()
    cleaner.register(owner) { ran.put("$tag@${Thread.currentThread().name}") }
    return WeakReference(owner)
}

fun registerCleanerTests() {
    test("cleaner: the one in use is the one -Dwilddog.video.cleaner asks for") {
        val asked = System.getProperty(Cleaners.PROPERTY)
        assertEquals(if (asked.isNullOrEmpty()) "jdk" else asked, Cleaners.instance.name)
    }

    for (mode in listOf("jdk", "phantom")) {
        test("cleaner ($mode): an unreachable object's action runs once, on the cleaner's thread") {
            val cleaner = Cleaners.choose(mode)
            assertEquals(mode, cleaner.name)
            val ran = LinkedBlockingQueue<String>()
            val kept = LinkedBlockingQueue<String>()
            val owner = Any()
            cleaner.register(owner) { kept.put("reachable") }
            val weak = registerGarbage(cleaner, ran, "collected")
            awaitCollected(weak, "the registered object")
            assertEquals("collected@${Cleaners.THREAD_NAME}", ran.takeOrFail("the action of a collected object"))
            // The object still referenced here was not cleaned.
            assertNull(kept.peek(), "the action of a reachable object ran")
            java.lang.ref.Reference.reachabilityFence(owner)
        }

        test("cleaner ($mode): clean() runs the action now and never again") {
            val cleaner = Cleaners.choose(mode)
            val runs = AtomicInteger()
            val done = LinkedBlockingQueue<Unit>()
            fun registerAndClean(): WeakReference<Any> {
                val owner = Any()
                val cleanable = cleaner.register(owner) {
                    runs.incrementAndGet()
                    done.put(Unit)
                }
                cleanable.clean()
                cleanable.clean()
                return WeakReference(owner)
            }
            val weak = registerAndClean()
            done.takeOrFail("the action")
            awaitCollected(weak, "a cleaned object")
            // A second object's action proves the cleaner went past the first one's collection.
            val ran = LinkedBlockingQueue<String>()
            awaitCollected(registerGarbage(cleaner, ran, "next"), "the next object")
            assertEquals("next@${Cleaners.THREAD_NAME}", ran.takeOrFail("the next action"))
            assertEquals(1, runs.get(), "the cleaned object's action ran again")
        }
    }

    test("cleaner: an unknown -Dwilddog.video.cleaner is refused by name") {
        val e = assertFailsWith<IllegalArgumentException> { Cleaners.choose("finalizer") }
        assertEquals(true, e.message?.contains("wilddog.video.cleaner"))
    }
}
