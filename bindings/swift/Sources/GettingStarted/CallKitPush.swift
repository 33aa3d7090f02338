#if canImport(CallKit) && canImport(PushKit)
import CallKit
import Foundation
import PushKit
import WilddogVideo

/// PushKit and CallKit around ``PushCalls``. Apple's frameworks do not exist
/// on Linux, where this project builds and tests, so this part is compiled
/// on Apple platforms only.
final class VoIPCalls: NSObject, PKPushRegistryDelegate, CXProviderDelegate, @unchecked Sendable {
    // @unchecked Sendable: every stored property is set once, in init.
    private let registry = PKPushRegistry(queue: .main)
    private let provider: CXProvider
    private let calls: PushCalls

    /// `client`: made with `Client.start` at launch, since PushKit may
    /// launch the app in the background for a push.
    init(client: Client) {
        let configuration = CXProviderConfiguration()
        configuration.supportsVideo = true
        provider = CXProvider(configuration: configuration)
        calls = PushCalls(client: client, screen: CallKitScreen(provider: provider))
        super.init()
        provider.setDelegate(self, queue: nil)
        registry.delegate = self
        registry.desiredPushTypes = [.voIP]
    }

    func pushRegistry(_ registry: PKPushRegistry, didUpdate pushCredentials: PKPushCredentials, for type: PKPushType) {
        try? calls.tokenUpdated(pushCredentials.token)
    }

    func pushRegistry(_ registry: PKPushRegistry, didReceiveIncomingPushWith payload: PKPushPayload,
                      for type: PKPushType, completion: @escaping () -> Void) {
        calls.pushReceived(payload.dictionaryPayload)  // reports the call to CallKit
        completion()
    }

    func provider(_ provider: CXProvider, perform action: CXAnswerCallAction) {
        calls.answer(action.callUUID)
        action.fulfill()
    }

    func provider(_ provider: CXProvider, perform action: CXEndCallAction) {
        calls.decline(action.callUUID)
        action.fulfill()
    }

    func providerDidReset(_ provider: CXProvider) {}
}

/// ``CallScreenUI`` through CallKit.
struct CallKitScreen: CallScreenUI, @unchecked Sendable {
    // @unchecked Sendable: CXProvider may be called from any thread.
    let provider: CXProvider

    func reportIncomingCall(_ call: UUID, from caller: String) {
        let update = CXCallUpdate()
        update.remoteHandle = CXHandle(type: .generic, value: caller)
        update.hasVideo = true
        provider.reportNewIncomingCall(with: call, update: update) { _ in }
    }

    func reportCallEnded(_ call: UUID, reason: CallEndReason) {
        let ended: CXCallEndedReason
        switch reason {
        case .remoteEnded: ended = .remoteEnded
        case .answeredElsewhere: ended = .answeredElsewhere
        case .unanswered: ended = .unanswered
        case .failed: ended = .failed
        }
        provider.reportCall(with: call, endedAt: nil, reason: ended)
    }
}
#endif
