package com.wilddog.video

// A JSON reader for the tests (the test classpath has no JSON library): what
// the test push gateway answers is read into maps, lists, strings, numbers
// (Double), booleans and null.

/** Parses [text] as one JSON value; anything malformed throws. */
fun parseJson(text: String): Any? = JsonReader(text).run { value().also { end() } }

private class JsonReader(private val s: String) {
    private var i = 0

    fun end() {
        space()
        check(i == s.length) { "JSON: trailing text at $i" }
    }

    fun value(): Any? {
        space()
        check(i < s.length) { "JSON: unexpected end" }
        return when (s[i]) {
            '{' -> obj()
            '[' -> list()
            '"' -> string()
            't' -> word("true", true)
            'f' -> word("false", false)
            'n' -> word("null", null)
            else -> number()
        }
    }

    private fun space() {
        while (i < s.length && s[i].isWhitespace()) i++
    }

    private fun expect(c: Char) {
        space()
        check(i < s.length && s[i] == c) { "JSON: expected '$c' at $i" }
        i++
    }

    private fun obj(): Map<String, Any?> {
        val map = LinkedHashMap<String, Any?>()
        expect('{')
        space()
        if (s[i] == '}') return map.also { i++ }
        while (true) {
            space()
            val key = string()
            expect(':')
            map[key] = value()
            space()
            if (s[i] == ',') i++ else return map.also { expect('}') }
        }
    }

    private fun list(): List<Any?> {
        val list = ArrayList<Any?>()
        expect('[')
        space()
        if (s[i] == ']') return list.also { i++ }
        while (true) {
            list += value()
            space()
            if (s[i] == ',') i++ else return list.also { expect(']') }
        }
    }

    private fun string(): String {
        expect('"')
        val out = StringBuilder()
        while (true) {
            val c = s[i++]
            when (c) {
                '"' -> return out.toString()
                '\\' -> {
                    val e = s[i++]
                    when (e) {
                        'n' -> out.append('\n')
                        't' -> out.append('\t')
                        'r' -> out.append('\r')
                        'b' -> out.append('\b')
                        'f' -> out.append('\u000c')
                        'u' -> out.append(s.substring(i, i + 4).toInt(16).toChar()).also { i += 4 }
                        else -> out.append(e)
                    }
                }
                else -> out.append(c)
            }
        }
    }

    private fun word(w: String, v: Any?): Any? {
        check(s.startsWith(w, i)) { "JSON: bad literal at $i" }
        i += w.length
        return v
    }

    private fun number(): Double {
        val start = i
        while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
        return s.substring(start, i).toDouble()
    }
}

/** The value at [path] (object keys) in a parsed JSON value, or null. */
fun Any?.at(vararg path: String): Any? = path.fold(this) { v, key -> (v as? Map<*, *>)?.get(key) }
