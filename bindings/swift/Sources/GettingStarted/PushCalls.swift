import Foundation
import WilddogVideo

/// The system's call screen as the app uses it: CallKit on iOS
/// (CallKitPush.swift), the console in this example.
protocol CallScreenUI: Sendable {
    /// Shows a ringing call at once.
    func reportIncomingCall(_ call: UUID, from caller: String)
    /// The call stopped ringing without being answered here.
    func reportCallEnded(_ call: UUID, reason: CallEndReason)
}

/// Why a call ended without being answered on this device.
enum CallEndReason: Sendable {
    /// The caller hung up: a missed call.
    case remoteEnded
    /// Another device of this user answered or declined.
    case answeredElsewhere
    /// Nobody answered in time: a missed call.
    case unanswered
    /// The call could not go on.
    case failed
}

/// The SDK's side of a call that comes by push: the device's token, each
/// push, and the user's answer.
final class PushCalls: @unchecked Sendable {
    // @unchecked Sendable: `calls` is only touched while `lock` is held.
    let client: Client
    let screen: any CallScreenUI
    private let lock = NSLock()
    private var calls: [UUID: IncomingInvite] = [:]

    init(client: Client, screen: any CallScreenUI) {
        self.client = client
        self.screen = screen
    }

    /// PushKit has a token (at every launch, and when it changes).
    func tokenUpdated(_ token: Data) throws(WilddogError) {
        try client.registerPush(PushRegistration(provider: .apns, appID: "com.example.app.voip", pushKey: token))
    }

    /// A VoIP push came: report a call before returning, as iOS demands
    /// for every VoIP push, from the push alone (no network yet).
    func pushReceived(_ payload: [AnyHashable: Any]) {
        guard let invite = try? client.handlePush(payload) else {
            // Not a push of this SDK: report a call and end it at once.
            let call = UUID()
            screen.reportIncomingCall(call, from: "")
            screen.reportCallEnded(call, reason: .failed)
            return
        }
        let (call, isNew) = callID(for: invite)
        screen.reportIncomingCall(call, from: invite.from)
        guard isNew else { return }  // its end is reported once, below
        // If it ends before the user answers here (even while the app was
        // waking, or before this push came): a missed call.
        invite.onEvent { [screen] event in
            switch event {
            case .accepted, .rejected: break
            case .canceled(.answeredElsewhere): screen.reportCallEnded(call, reason: .answeredElsewhere)
            case .canceled: screen.reportCallEnded(call, reason: .remoteEnded)
            case .failed(.timeout): screen.reportCallEnded(call, reason: .unanswered)
            case .failed: screen.reportCallEnded(call, reason: .failed)
            }
        }
    }

    /// The user answered on the call screen (CXAnswerCallAction): once
    /// the server confirmed the invite, its offer is there to answer.
    @discardableResult
    func answer(_ call: UUID) -> Task<Conversation, any Error> {
        let invite = lock.withLock { calls[call] }
        return Task {
            guard let invite else { throw CancellationError() }
            try await invite.confirmed()
            let answer = "v=0 (answer to \(invite.offer ?? "no offer"))"  // your media engine's SDP answer
            return try await invite.accept(answer: answer)
        }
    }

    /// The user declined on the call screen (CXEndCallAction while it rings).
    func decline(_ call: UUID) {
        let invite = lock.withLock { calls[call] }
        try? invite?.reject(reason: .declined)
    }

    /// One call id per invite (a push and the connection give the same
    /// invite object); whether it is new.
    private func callID(for invite: IncomingInvite) -> (UUID, Bool) {
        lock.withLock {
            if let known = calls.first(where: { $0.value === invite }) { return (known.key, false) }
            let call = UUID()
            calls[call] = invite
            return (call, true)
        }
    }
}
