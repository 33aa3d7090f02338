// Stands in for Android's telecom framework (android.telecom) on the JVM: the
// classes and members the push section of docs/getting-started-kotlin.md uses,
// with Android's names, signatures and constant values, so its snippet compiles
// and runs in the Kotlin tests. Where Android's system acts (binding the app's
// ConnectionService for an incoming call, showing the call), TelecomManager
// here does it at once, and records what the test checks.
package android.telecom

import android.content.ComponentName
import android.os.Bundle
import java.util.concurrent.LinkedBlockingQueue

class PhoneAccountHandle(val componentName: ComponentName, val id: String)

class ConnectionRequest(val accountHandle: PhoneAccountHandle, val extras: Bundle)

class DisconnectCause(val code: Int) {
    companion object {
        const val UNKNOWN = 0
        const val ERROR = 1
        const val LOCAL = 2
        const val REMOTE = 3
        const val CANCELED = 4
        const val MISSED = 5
        const val REJECTED = 6
        const val BUSY = 7
        const val OTHER = 9
        const val ANSWERED_ELSEWHERE = 11
    }
}

abstract class Connection {
    @Volatile
    var state: Int = STATE_NEW
        private set

    @Volatile
    var disconnectCause: DisconnectCause? = null
        private set

    @Volatile
    var connectionProperties: Int = 0

    @Volatile
    var callerDisplayName: String? = null
        private set

    /** Whether [destroy] was called (the stand-in's record). */
    @Volatile
    var isDestroyed = false
        private set

    fun setAudioModeIsVoip(isVoip: Boolean) {}

    fun setCallerDisplayName(name: String?, presentation: Int) {
        callerDisplayName = name
    }

    fun setRinging() {
        state = STATE_RINGING
    }

    fun setActive() {
        state = STATE_ACTIVE
    }

    fun setDisconnected(cause: DisconnectCause) {
        disconnectCause = cause
        state = STATE_DISCONNECTED
    }

    fun destroy() {
        isDestroyed = true
    }

    open fun onShowIncomingCallUi() {}

    open fun onAnswer() {}

    open fun onReject() {}

    open fun onDisconnect() {}

    companion object {
        const val STATE_INITIALIZING = 0
        const val STATE_NEW = 1
        const val STATE_RINGING = 2
        const val STATE_ACTIVE = 4
        const val STATE_DISCONNECTED = 6
        const val PROPERTY_SELF_MANAGED = 1 shl 7
    }
}

abstract class ConnectionService {
    open fun onCreateIncomingConnection(
        connectionManagerPhoneAccount: PhoneAccountHandle,
        request: ConnectionRequest,
    ): Connection? = null

    open fun onCreateIncomingConnectionFailed(
        connectionManagerPhoneAccount: PhoneAccountHandle,
        request: ConnectionRequest,
    ) {}
}

class TelecomManager {
    /** The app's ConnectionService, as the system finds it in the manifest (set by the test). */
    @Volatile
    var connectionService: ConnectionService? = null

    /** Every connection the app's service made, as the system's call screen shows it. */
    val connections = LinkedBlockingQueue<Connection>()

    fun addNewIncomingCall(phoneAccount: PhoneAccountHandle, extras: Bundle) {
        val service = checkNotNull(connectionService) { "no ConnectionService in the manifest" }
        val request = ConnectionRequest(phoneAccount, extras)
        val connection = service.onCreateIncomingConnection(phoneAccount, request)
        if (connection == null) {
            service.onCreateIncomingConnectionFailed(phoneAccount, request)
            return
        }
        connection.onShowIncomingCallUi()
        connections.put(connection)
    }

    companion object {
        const val PRESENTATION_ALLOWED = 1
    }
}
