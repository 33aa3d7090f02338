import WilddogVideo

/// UI state lives on the main actor; the SDK's closures run on its event
/// thread, so they hop over.
@MainActor
final class CallScreen {
    private(set) var log: [String] = []

    func watch(_ invite: OutgoingInvite) {
        invite.onEvent { event in
            // The client's event thread: do not touch UI state here.
            Task { @MainActor in
                self.show(event)
            }
        }
    }

    private func show(_ event: OutgoingInvite.Event) {
        log.append("\(event)")
    }
}
