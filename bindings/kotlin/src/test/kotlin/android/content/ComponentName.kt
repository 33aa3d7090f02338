// Stands in for Android's android.content.ComponentName on the JVM (see
// android/telecom/Telecom.kt).
package android.content

class ComponentName(val packageName: String, val className: String)
