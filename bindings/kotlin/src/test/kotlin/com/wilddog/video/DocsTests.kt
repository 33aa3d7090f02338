package com.wilddog.video

import com.wilddog.video.docs.DocScope
import com.wilddog.video.docs.docSnippets
import kotlin.test.assertTrue
import kotlin.time.Duration.Companion.seconds
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeout

/**
 * Every ```kotlin block of docs/getting-started-kotlin.md, compiled into this
 * test jar by run-tests.sh (tests/docs/kotlin-snippets.py), runs against the
 * test server while a user `bob` answers every call, as the guide says.
 */
fun registerDocsTests() {
    test("docs: the guide has kotlin snippets, and the runner found them") {
        val guide = Env.root.resolve("docs/getting-started-kotlin.md").readText()
        val blocks = Regex("^```kotlin$", RegexOption.MULTILINE).findAll(guide).count()
        assertTrue(blocks > 0)
        kotlin.test.assertEquals(blocks, docSnippets.size, "snippets compiled vs ```kotlin blocks in the guide")
    }
    for ((where, snippet) in docSnippets) {
        test("docs: $where runs") {
            capturingListenerErrors { errors ->
                connect("bob").use { bob ->
                    bob.onInvite { incoming ->
                        try {
                            incoming.accept(answer = "v=0 (bob's answer)")
                        } catch (e: InvalidStateException) {
                            // An invite can end before it is answered (one an earlier
                            // snippet left ringing ends as its caller goes): not an error.
                            if (!incoming.status.isFinal) throw e
                        }
                    }
                    runBlocking { withTimeout(WAIT_SECONDS.seconds * 3) { DocScope(Env.url).snippet() } }
                }
                errors.poll()?.let { throw AssertionError("a listener of the snippet threw", it) }
            }
        }
    }
}
