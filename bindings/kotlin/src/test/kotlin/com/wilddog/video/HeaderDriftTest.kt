package com.wilddog.video

import kotlin.test.assertEquals
import kotlin.test.assertTrue

/** `WD_<PREFIX>_<NAME> = <value>` constants of `enum wd_<name>` in the C header. */
private fun headerEnum(header: String, cName: String): Map<String, Int> {
    val body = Regex("""enum\s+$cName\b[^{;]*\{(.*?)\};""", RegexOption.DOT_MATCHES_ALL)
        .find(header)?.groupValues?.get(1)
        ?: error("enum $cName not found in the header")
    val prefix = cName.uppercase() + "_"
    return Regex("""\b${prefix}(\w+)\s*=\s*(\d+)""").findAll(body)
        .associate { it.groupValues[1] to it.groupValues[2].toInt() }
}

fun registerHeaderTests() {
    test("header enums match the Kotlin enums (no drift)") {
        val header = Env.header.readText()
        // Public enums: exactly the header's constants (a header NONE = 0 is `null` in Kotlin).
        val exact: List<Pair<String, Map<String, Int>>> = listOf(
            "wd_outgoing_status" to OutgoingStatus.entries.associate { it.name to it.value },
            "wd_incoming_status" to IncomingStatus.entries.associate { it.name to it.value },
            "wd_failure_reason" to FailureReason.entries.associate { it.name to it.value } + ("NONE" to 0),
            "wd_reject_reason" to RejectReason.entries.associate { it.name to it.value } + ("NONE" to 0),
            "wd_cancel_reason" to CancelReason.entries.associate { it.name to it.value } + ("NONE" to 0),
            "wd_participant_left_reason" to ParticipantLeftReason.entries.associate { it.name to it.value } + ("NONE" to 0),
            "wd_mode" to Mode.entries.associate { it.name to it.value },
            "wd_connection_state" to ConnectionState.entries.associate { it.name to it.value },
            "wd_log_level" to LogLevel.entries.associate { it.name to it.value },
        )
        for ((cName, kotlin) in exact) {
            assertEquals(headerEnum(header, cName).toSortedMap(), kotlin.toSortedMap(), "$cName differs from Kotlin")
        }
        // Event kinds the glue passes: each must exist in the header with the same
        // value (the header may have more, which the glue then skips).
        val kinds: List<Pair<String, Map<String, Int>>> = listOf(
            "wd_outgoing_event_kind" to OutgoingEventKind.entries.associate { it.name to it.value },
            "wd_incoming_event_kind" to IncomingEventKind.entries.associate { it.name to it.value },
            "wd_conversation_event_kind" to ConversationEventKind.entries.associate { it.name to it.value },
            "wd_push_event_kind" to PushEventKind.entries.associate { it.name to it.value },
        )
        for ((cName, kotlin) in kinds) {
            val c = headerEnum(header, cName)
            for ((name, value) in kotlin) {
                assertEquals(value, c[name], "$cName: ${cName.uppercase()}_$name")
            }
        }
        // The check itself must see a drift.
        assertTrue(headerEnum(header.replace("WD_OUTGOING_STATUS_FAILED = 4", "WD_OUTGOING_STATUS_FAILED = 5"), "wd_outgoing_status")["FAILED"] == 5)
    }
}
