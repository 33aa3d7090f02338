import CWilddogVideo
import Foundation

/// Base class of every object the C library holds as a callback's
/// `user_data`. The wrapper passes it with `Unmanaged.passRetained` and the
/// library calls ``releaseCallbackBox`` exactly once when it drops it, which
/// balances that retain.
///
/// `@unchecked Sendable`: the library calls into it from its own threads;
/// every mutable field of it and of its subclasses is read and written only
/// while `lock` is held, and the library delivers each callback after the
/// registration that published the box.
class CallbackBox: @unchecked Sendable {
    /// Guards every mutable field of the box and its subclasses.
    let lock = NSLock()
    /// Run once when the library releases the box (tests hook onto it).
    private var releaseHooks: [@Sendable () -> Void] = []
    private var released = false

    /// How many boxes are alive right now (tests check it returns to its
    /// starting value).
    static var liveCount: Int { liveBoxes.withLock { $0 } }

    init() { liveBoxes.withLock { $0 += 1 } }
    deinit { liveBoxes.withLock { $0 -= 1 } }

    /// Retains the box for the library; the matching release is the
    /// library's call of ``releaseCallbackBox``.
    func retainedForC() -> UnsafeMutableRawPointer {
        let pointer = Unmanaged.passRetained(self).toOpaque()
        releasedToC(pointer)
        return pointer
    }

    /// The box behind a callback's `user_data`, not retained.
    static func from(_ userData: UnsafeMutableRawPointer) -> Self {
        acquiredFromC(userData)
        return Unmanaged<Self>.fromOpaque(userData).takeUnretainedValue()
    }

    /// Runs `hook` when the library has released the box (at once if it
    /// already has).
    func whenReleased(_ hook: @escaping @Sendable () -> Void) {
        lock.lock()
        if released {
            lock.unlock()
            hook()
            return
        }
        releaseHooks.append(hook)
        lock.unlock()
    }

    /// Called once the library released the box (subclasses end their streams).
    func didRelease() {}

    fileprivate func markReleased() -> [@Sendable () -> Void] {
        lock.lock()
        defer { lock.unlock() }
        released = true
        let hooks = releaseHooks
        releaseHooks = []
        return hooks
    }
}

/// A value guarded by a lock.
final class Locked<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched inside `withLock`.
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

private let liveBoxes = Locked(0)

/// The `release` callback passed with every box: balances
/// ``CallbackBox/retainedForC()``.
let releaseCallbackBox: @convention(c) (UnsafeMutableRawPointer?) -> Void = { userData in
    guard let userData else { return }
    acquiredFromC(userData)
    let box = Unmanaged<CallbackBox>.fromOpaque(userData)
    let object = box.takeUnretainedValue()
    let hooks = object.markReleased()
    object.didRelease()
    box.release()
    for hook in hooks { hook() }
}

/// Which past events a listener added later hears.
enum ReplayPolicy {
    /// Every event so far (an invite's ringing and outcome).
    case all
    /// Events that arrive while nobody listens wait for the first listener;
    /// a later listener hears only the terminal event, if it happened.
    case bufferUntilFirstListener
    /// The latest event only (the connection state).
    case latest
}

/// Receives a handle's events from the library and hands them to the
/// app's closures and `AsyncStream`s, in order, each closure one event at a
/// time. Events run on the thread the library delivers them on (its event
/// thread); a listener added later first hears past events (as the policy
/// says) on the thread that adds it, and also any event that arrives while
/// that replay runs. After the terminal event the listeners are dropped, so
/// a closure that captures its own handle does not keep it alive.
class EventHub<Event: Sendable>: CallbackBox, @unchecked Sendable {
    // @unchecked Sendable: as CallbackBox, every var below (and every var of
    // its slots) is guarded by `lock`.
    typealias Listener = @Sendable (Event) -> Void

    /// One listener: while its replay runs, live events wait in `pending`.
    private final class Slot {
        let id: Int
        let listener: Listener
        var replaying = true
        var pending: [Event]
        init(id: Int, listener: @escaping Listener, pending: [Event]) {
            self.id = id
            self.listener = listener
            self.pending = pending
        }
    }

    private let policy: ReplayPolicy
    private let isTerminal: @Sendable (Event) -> Bool
    private var history: [Event] = []
    private var slots: [Slot] = []
    private var finishers: [Int: @Sendable () -> Void] = [:]
    private var nextID = 0
    private var hadListener = false
    private var ended = false
    /// Terminal events the library delivered (tests check it is one).
    private var terminalCount = 0

    init(policy: ReplayPolicy, isTerminal: @escaping @Sendable (Event) -> Bool) {
        self.policy = policy
        self.isTerminal = isTerminal
    }

    deinit { finishStreams() }

    /// The library released the hub: no event can come any more, so open
    /// streams end.
    override func didRelease() { finishStreams() }

    private func finishStreams() {
        lock.lock()
        let open = Array(finishers.values)
        finishers.removeAll()
        lock.unlock()
        for finish in open { finish() }
    }

    /// Terminal events the library delivered so far.
    var terminalEventsReceived: Int {
        lock.lock()
        defer { lock.unlock() }
        return terminalCount
    }

    /// An event from the library, delivered on the calling thread.
    func publish(_ event: Event) {
        lock.lock()
        let terminal = isTerminal(event)
        if terminal { terminalCount += 1 }
        switch policy {
        case .all:
            history.append(event)
        case .latest:
            history = [event]
        case .bufferUntilFirstListener:
            if !hadListener || terminal { history.append(event) }
        }
        var now: [Listener] = []
        for slot in slots {
            if slot.replaying { slot.pending.append(event) } else { now.append(slot.listener) }
        }
        if terminal {
            ended = true
            slots.removeAll()
            finishers.removeAll()
        }
        lock.unlock()
        for listener in now { listener(event) }
    }

    /// Adds a listener; it first hears past events as the policy says, on
    /// the calling thread. Returns its id, for ``remove(_:)``.
    @discardableResult
    func add(_ listener: @escaping Listener, finish: (@Sendable () -> Void)? = nil) -> Int {
        lock.lock()
        nextID += 1
        let slot = Slot(id: nextID, listener: listener, pending: history)
        if policy == .bufferUntilFirstListener && !hadListener {
            history = history.filter(isTerminal)
        }
        hadListener = true
        if !ended {
            slots.append(slot)
            if let finish { finishers[slot.id] = finish }
        }
        while true {
            let batch = slot.pending
            slot.pending = []
            if batch.isEmpty {
                slot.replaying = false
                lock.unlock()
                return slot.id
            }
            lock.unlock()
            for event in batch { listener(event) }
            lock.lock()
        }
    }

    /// Removes a listener (a stream that ended early).
    func remove(_ id: Int) {
        lock.lock()
        slots.removeAll { $0.id == id }
        finishers[id] = nil
        lock.unlock()
    }

    /// A stream of the events, starting with the replayed ones; it finishes
    /// after the terminal event, or when no event can come any more.
    func stream() -> AsyncStream<Event> {
        AsyncStream { continuation in
            let isTerminal = self.isTerminal
            let id = add({ event in
                continuation.yield(event)
                if isTerminal(event) { continuation.finish() }
            }, finish: { continuation.finish() })
            continuation.onTermination = { [weak self] _ in self?.remove(id) }
        }
    }
}
