// Stands in for Android's android.os.Bundle on the JVM: the members the push
// section of docs/getting-started-kotlin.md uses, so its snippet compiles and
// runs in the Kotlin tests as it would in an app.
package android.os

class Bundle {
    private val values = HashMap<String, Any?>()

    fun putString(key: String?, value: String?) {
        values[key.orEmpty()] = value
    }

    fun getString(key: String?): String? = values[key.orEmpty()] as? String
}
