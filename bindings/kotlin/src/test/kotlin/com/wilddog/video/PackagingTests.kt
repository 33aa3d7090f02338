package com.wilddog.video

import java.io.File
import java.util.zip.ZipFile
import kotlin.test.assertEquals
import kotlin.test.assertTrue
import kotlin.test.fail

/** A method the JNI glue finds by name (a `Method { … }` of names.rs). */
data class GlueMethod(val className: String, val name: String, val descriptor: String)

/** `-keep class X { members }` of a rules file: the class and its member lines, normalised. */
data class KeepRule(val className: String, val members: Set<String>)

private val glueSources: File get() = Env.root.resolve("bindings/kotlin/native/src")
private val rulesFile: File get() = Env.root.resolve("bindings/kotlin/consumer-rules.pro")

/** Every `Method { class, name, sig }` of names.rs. */
fun glueMethods(namesRs: String): List<GlueMethod> =
    Regex("""Method\s*\{\s*class:\s*"([^"]+)",\s*name:\s*"([^"]+)",\s*sig:\s*"([^"]+)",?\s*\}""")
        .findAll(namesRs)
        .map { GlueMethod(it.groupValues[1].replace('/', '.'), it.groupValues[2], it.groupValues[3]) }
        .toList()

/** The `-keep` / `-keepclasseswithmembers` rules of a ProGuard file (the ones that keep unused members). */
fun keepRules(text: String): List<KeepRule> {
    val noComments = text.lines().joinToString("\n") { it.substringBefore('#') }
    return Regex("""-keep(?:classeswithmembers)?(?:,\w+)*\s+class\s+([\w.$]+)\s*\{([^}]*)\}""")
        .findAll(noComments)
        .map { m ->
            KeepRule(
                m.groupValues[1],
                m.groupValues[2].split(';').map(::normaliseMember).filter { it.isNotEmpty() }.toSet(),
            )
        }
        .toList()
}

private val modifiers = setOf("public", "private", "protected", "static", "final", "synchronized")

/** `public static void f(int, java.lang.String)` → `void f(int,java.lang.String)`. */
fun normaliseMember(line: String): String {
    val words = line.trim().replace(Regex("\\s*,\\s*"), ",").replace(Regex("\\s*\\(\\s*"), "(")
        .replace(Regex("\\s*\\)"), ")").split(Regex("\\s+")).filter { it.isNotEmpty() && it !in modifiers }
    return words.joinToString(" ")
}

/** The Java types of a JNI descriptor: parameters, then the return type. */
fun descriptorTypes(descriptor: String): Pair<List<String>, String> {
    val types = ArrayList<String>()
    var i = 0
    fun one(): String {
        val c = descriptor[i++]
        return when (c) {
            'I' -> "int"; 'J' -> "long"; 'Z' -> "boolean"; 'V' -> "void"; 'B' -> "byte"
            'C' -> "char"; 'S' -> "short"; 'F' -> "float"; 'D' -> "double"
            '[' -> one() + "[]"
            'L' -> descriptor.substring(i, descriptor.indexOf(';', i)).replace('/', '.').also { i = descriptor.indexOf(';', i) + 1 }
            else -> error("bad descriptor $descriptor")
        }
    }
    check(descriptor[i++] == '(') { "bad descriptor $descriptor" }
    while (descriptor[i] != ')') types += one()
    i++
    return types to one()
}

/** The member line a rule needs for [m]: `void onEvent(int,int,long)`. */
fun memberSpec(m: GlueMethod): String {
    val (params, ret) = descriptorTypes(m.descriptor)
    return "$ret ${m.name}(${params.joinToString(",")})"
}

/** What is missing from [rules] for [methods]: one line each. */
fun missingRules(methods: List<GlueMethod>, rules: List<KeepRule>): List<String> =
    methods.mapNotNull { m ->
        val spec = memberSpec(m)
        val kept = rules.any { it.className == m.className && (spec in it.members || "<methods>" in it.members) }
        if (kept) null else "${m.className}: $spec"
    }

private fun javaClass(name: String): Class<*> = when (name) {
    "int" -> Int::class.javaPrimitiveType!!
    "long" -> Long::class.javaPrimitiveType!!
    "boolean" -> Boolean::class.javaPrimitiveType!!
    "void" -> Void.TYPE
    else -> Class.forName(name)
}

fun registerPackagingTests() {
    test("consumer rules keep every name the JNI glue looks up") {
        val names = glueSources.resolve("names.rs").readText()
        val methods = glueMethods(names)
        assertTrue(methods.size >= 10, "names.rs lists ${methods.size} methods")
        val rules = keepRules(rulesFile.readText())
        assertEquals(emptyList(), missingRules(methods, rules), "methods of names.rs without a keep rule in consumer-rules.pro")
        // Each exists in the compiled classes with that descriptor.
        for (m in methods) {
            val (params, ret) = descriptorTypes(m.descriptor)
            val method = try {
                Class.forName(m.className).getDeclaredMethod(m.name, *params.map(::javaClass).toTypedArray())
            } catch (e: ReflectiveOperationException) {
                fail("names.rs: ${m.className}.${m.name}${m.descriptor} does not exist in the Kotlin classes ($e)")
            }
            assertEquals(javaClass(ret), method.returnType, "return type of ${m.className}.${m.name}")
        }
        // The JDK classes it names exist (they need no rule).
        for (jdk in Regex(""": &str = "(java/[\w/]+)";""").findAll(names)) Class.forName(jdk.groupValues[1].replace('/', '.'))
        // The checker itself sees a missing rule.
        val withoutOne = rulesFile.readText().replace("    void onInvite(long);\n", "")
        assertEquals(
            listOf("com.wilddog.video.ClientSink: void onInvite(long)"),
            missingRules(methods, keepRules(withoutOne)),
        )
    }

    test("consumer rules: NativeLib's natives are kept, and they match the glue's exports one to one") {
        val rule = keepRules(rulesFile.readText()).firstOrNull { it.className == "com.wilddog.video.NativeLib" }
            ?: fail("no keep rule for com.wilddog.video.NativeLib")
        assertTrue("native <methods>" in rule.members, "NativeLib's rule: ${rule.members}")
        val exports = glueSources.listFiles()!!.filter { it.extension == "rs" }
            .flatMap { f -> Regex("""fn Java_com_wilddog_video_NativeLib_(\w+)<""").findAll(f.readText()).map { it.groupValues[1] } }
            .toSortedSet()
        val natives = NativeLib::class.java.declaredMethods
            .filter { java.lang.reflect.Modifier.isNative(it.modifiers) }
            .map { it.name }
            .toSortedSet()
        assertEquals(natives, exports, "NativeLib's external functions vs the glue's exports")
    }

    test("the glue names classes and methods only in names.rs") {
        val lookup = Regex(
            """\b(call_method|call_static_method|find_class|get_method_id|get_static_method_id|get_field_id|new_object|throw_new|new_object_array|is_instance_of)\s*\(([^;]*)""",
        )
        val offenders = glueSources.listFiles()!!
            .filter { it.extension == "rs" && it.name != "names.rs" }
            .flatMap { f -> lookup.findAll(f.readText()).filter { '"' in it.groupValues[2] }.map { "${f.name}: ${it.value.take(80)}" } }
        assertEquals(emptyList(), offenders, "lookups by a string literal outside names.rs")
    }

    test("packaging: the Android module ships the consumer rules; the plain jar needs no kotlinx.coroutines") {
        val android = Env.root.resolve("bindings/kotlin/android/build.gradle.kts").readText()
        assertTrue("consumerProguardFiles(\"../consumer-rules.pro\")" in android, "android/build.gradle.kts ships consumer-rules.pro")
        assertTrue("minSdk = 24" in android)
        val jar = Env.mainJar ?: fail("-Dwilddog.test.main.jar is required")
        ZipFile(jar).use { zip ->
            val classes = zip.entries().toList().filter { it.name.endsWith(".class") }
            assertTrue(classes.isNotEmpty())
            for (e in classes) {
                val bytes = zip.getInputStream(e).readBytes().toString(Charsets.ISO_8859_1)
                assertTrue("kotlinx/coroutines" !in bytes, "${e.name} refers to kotlinx.coroutines")
            }
        }
    }
}
