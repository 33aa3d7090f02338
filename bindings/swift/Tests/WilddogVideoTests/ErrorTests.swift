import Testing
@testable import WilddogVideo

/// Calls that fail are thrown ``WilddogError``s with the library's code and
/// message; invites that cannot go anywhere fail with a typed reason.
@Suite struct ErrorTests {
    @Test func badTokenIsUnauthorized() async throws {
        let error = try await #require(throws: WilddogError.self) {
            _ = try await Client.connect(url: Env.url, token: "not-a-token")
        }
        #expect(error.code == .unauthorized)
        #expect(error.rawCode == 7)
        #expect(!error.message.isEmpty)
    }

    @Test func invalidParticipantFailsTheInvite() async throws {
        let alice = try await connect(uid("self-invite"))
        let toSelf = try alice.inviteToConversation(participantId: alice.uid)
        await #expect(throws: InviteOutcomeError.failed(.invalidParticipant)) {
            try await within("the self invite's outcome") { try await toSelf.accepted() }
        }
        #expect(toSelf.failureReason == .invalidParticipant)

        // An id the server cannot take at all is refused before it leaves, or fails the same way.
        do {
            let malformed = try alice.inviteToConversation(participantId: "no spaces allowed \u{7}")
            await #expect(throws: InviteOutcomeError.failed(.invalidParticipant)) {
                try await within("the malformed invite's outcome") { try await malformed.accepted() }
            }
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("participantId"))
        }
        let empty = try #require(throws: WilddogError.self) { _ = try alice.inviteToConversation(participantId: "") }
        #expect(empty.code == .invalidArgument)
    }

    @Test func oversizedUserDataIsATypedError() async throws {
        let alice = try await connect(uid("oversized"))
        let tooLong = String(repeating: "u", count: 8 * 1024 + 1)
        let error = try #require(throws: WilddogError.self) {
            _ = try alice.inviteToConversation(participantId: uid("bob"), options: InviteOptions(userData: tooLong))
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("userData"))
        #expect(error.description.hasPrefix("invalidArgument: "))

        let offer = String(repeating: "o", count: 64 * 1024 + 1)
        let offerError = try #require(throws: WilddogError.self) {
            _ = try alice.inviteToConversation(participantId: uid("bob"), options: InviteOptions(offer: offer))
        }
        #expect(offerError.message.contains("offer"))

        let nul = try #require(throws: WilddogError.self) {
            _ = try alice.inviteToConversation(participantId: uid("bob"), options: InviteOptions(userData: "a\u{0}b"))
        }
        #expect(nul.code == .invalidArgument)
        // At the limit it goes through.
        let fits = try alice.inviteToConversation(participantId: uid("bob"), options: InviteOptions(userData: String(tooLong.dropLast())))
        #expect(fits.status == .pending || fits.status == .failed)
    }

    @Test func badConfigurationNamesTheField() async throws {
        var zeroTimeout = Client.Configuration(url: Env.url, token: "dev:\(uid("config"))")
        zeroTimeout.connectTimeout = .zero
        let error = try await #require(throws: WilddogError.self) { _ = try await Client.connect(zeroTimeout) }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("connectTimeoutMs"))

        let badURL = try await #require(throws: WilddogError.self) { _ = try await Client.connect(url: "http://127.0.0.1:1", token: "dev:a") }
        #expect(badURL.code == .invalidArgument)
        #expect(badURL.message.contains("url"))
    }

    @Test func unreachableServerIsANetworkError() async throws {
        var configuration = Client.Configuration(url: "ws://127.0.0.1:9", token: "dev:\(uid("nowhere"))")
        configuration.connectTimeout = .seconds(2)
        let error = try await #require(throws: WilddogError.self) { _ = try await Client.connect(configuration) }
        #expect(error.code == .network)
    }
}
