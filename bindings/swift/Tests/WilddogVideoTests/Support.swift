import Foundation
import Testing
@testable import WilddogVideo

// Shared helpers. Every wait is bounded (a timeout fails the test) and waits
// for an event, never for time to pass.

/// Upper bound of every wait in the tests.
let waitLimit: Duration = .seconds(15)

/// The settings run-tests.sh passes in the environment.
enum Env {
    /// The URL of the wd-signal the tests talk to (`WILDDOG_TEST_URL`).
    static var url: String {
        guard let url = ProcessInfo.processInfo.environment["WILDDOG_TEST_URL"], !url.isEmpty else {
            fatalError("WILDDOG_TEST_URL is not set: run the tests with bindings/swift/run-tests.sh")
        }
        return url
    }

    /// The repository's root (this file is bindings/swift/Tests/WilddogVideoTests/Support.swift).
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

private let uidCounter = Locked(0)
private let runID = String(UInt64(Date().timeIntervalSince1970 * 1000) % 1_000_000_007, radix: 36)

/// A user id no other test (or earlier run against the same server) uses.
func uid(_ base: String) -> String {
    let n = uidCounter.withLock { value -> Int in
        value += 1
        return value
    }
    return "sw-\(base)-\(runID)-\(n)"
}

/// Connects as `uid` with a dev token.
func connect(_ uid: String, dispatch: Client.Configuration.Dispatch? = nil) async throws -> Client {
    var configuration = Client.Configuration(url: Env.url, token: "dev:\(uid)")
    configuration.dispatch = dispatch
    return try await Client.connect(configuration)
}

/// Thrown when a bounded wait runs out.
struct TimedOut: Error, CustomStringConvertible {
    let what: String
    var description: String { "timed out after \(waitLimit) waiting for \(what)" }
}

/// Runs `body`, failing with ``TimedOut`` if it has not finished within the limit.
func within<T: Sendable>(_ what: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try? await Task.sleep(for: waitLimit)  // the deadline of a wait, not a synchronisation
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let value = first else { throw TimedOut(what: what) }
        return value
    }
}

/// Collects values that closures hand over on the SDK's threads; the test
/// takes them in order with bounded waits.
final class Mailbox<T: Sendable>: @unchecked Sendable {
    // @unchecked Sendable: every var is guarded by `lock`.
    private let lock = NSLock()
    private var items: [T] = []
    private var waiter: CheckedContinuation<T?, Never>?
    private var received = 0

    /// How many values were put so far.
    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return received
    }

    /// Hands a value over (any thread).
    func put(_ item: T) {
        lock.lock()
        received += 1
        if let waiter {
            self.waiter = nil
            lock.unlock()
            waiter.resume(returning: item)
        } else {
            items.append(item)
            lock.unlock()
        }
    }

    /// The next value, waiting at most the limit for it.
    func next(_ what: String) async throws -> T {
        try await within(what) {
            guard let item = await self.take() else { throw CancellationError() }
            return item
        }
    }

    private func take() async -> T? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<T?, Never>) in
                lock.lock()
                if !items.isEmpty {
                    let item = items.removeFirst()
                    lock.unlock()
                    continuation.resume(returning: item)
                } else if Task.isCancelled {
                    lock.unlock()
                    continuation.resume(returning: nil)
                } else {
                    waiter = continuation
                    lock.unlock()
                }
            }
        } onCancel: {
            lock.lock()
            let waiter = self.waiter
            self.waiter = nil
            lock.unlock()
            waiter?.resume(returning: nil)
        }
    }
}

/// The first event of `stream` that `match` turns into a value.
func first<E: Sendable, T: Sendable>(_ what: String, in stream: AsyncStream<E>, _ match: @escaping @Sendable (E) -> T?) async throws -> T {
    try await within(what) {
        for await event in stream {
            if let value = match(event) { return value }
        }
        throw TimedOut(what: "\(what) (the stream ended)")
    }
}

/// The outcome of an outgoing invite, as a value tests compare.
enum Outcome: Equatable, Sendable {
    case accepted(conversationId: String)
    case rejected(RejectReason)
    case canceled(CancelReason)
    case failed(FailureReason)

    init?(_ event: OutgoingInvite.Event) {
        switch event {
        case .ringing: return nil
        case .accepted(let conversation): self = .accepted(conversationId: conversation.id)
        case .rejected(let reason): self = .rejected(reason)
        case .canceled(let reason): self = .canceled(reason)
        case .failed(let reason): self = .failed(reason)
        }
    }

    init(_ event: IncomingInvite.Event) {
        switch event {
        case .accepted(let conversation): self = .accepted(conversationId: conversation.id)
        case .rejected(let reason): self = .rejected(reason)
        case .canceled(let reason): self = .canceled(reason)
        case .failed(let reason): self = .failed(reason)
        }
    }
}

/// Waits until the library has released `box` (its callback can no longer run).
func released(_ box: CallbackBox, _ what: String) async throws {
    let done = Mailbox<Void>()
    box.whenReleased { done.put(()) }
    try await done.next("\(what) released by the library")
}

/// Alice's and Bob's clients, Bob's invites in a mailbox.
struct Pair {
    let alice: Client
    let bob: Client
    let bobInvites = Mailbox<IncomingInvite>()

    init(_ name: String) async throws {
        alice = try await connect(uid("\(name)-alice"))
        bob = try await connect(uid("\(name)-bob"))
        let invites = bobInvites
        bob.onInvite { invites.put($0) }
    }

    /// Alice invites Bob; returns both sides.
    func ring(_ options: InviteOptions = InviteOptions()) async throws -> (OutgoingInvite, IncomingInvite) {
        let outgoing = try alice.inviteToConversation(participantId: bob.uid, options: options)
        let incoming = try await bobInvites.next("Bob's invite")
        return (outgoing, incoming)
    }

    /// Alice calls, Bob accepts: both conversations.
    func call() async throws -> (alice: Conversation, bob: Conversation) {
        let (outgoing, incoming) = try await ring()
        let bobSide = try await within("Bob's accept") { try await incoming.accept(answer: "answer") }
        let aliceSide = try await within("Alice's outcome") { try await outgoing.accepted() }
        return (aliceSide, bobSide)
    }
}

/// Every element of a stream, once it has finished.
func collect<E: Sendable>(_ stream: AsyncStream<E>) async -> [E] {
    await stream.reduce(into: []) { $0.append($1) }
}
