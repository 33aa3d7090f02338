import CWilddogVideo
import Foundation

/// A connection to a `wd-signal` server as one user (`wd_client`): sends
/// invites, receives them, and reports its connection state.
///
/// Creating one with ``init(_:)`` or ``connect(_:)`` connects and waits until
/// the server has accepted the token; ``start(_:)`` returns at once and
/// connects in the background (for an app a push just woke). Dropping the last reference frees it (`wd_client_free`): the connection
/// closes, pending outgoing invites end ``FailureReason/network`` and
/// conversations end ``Conversation/Event/disconnected``; those events still
/// reach the handles you hold. Invites and conversations may outlive their
/// client and do not keep it alive.
///
/// Closures you register run on the client's event thread (see
/// ``Configuration/Dispatch``), one at a time. A client does not keep itself
/// alive through them, but a closure that captures the client strongly
/// does: capture it `weak` or `unowned`.
///
/// `@unchecked Sendable`: its only stored state is the immutable handle
/// (whose C functions may be called from any thread) and immutable strings,
/// plus hubs that guard their own state with a lock.
public final class Client: @unchecked Sendable {
    /// How to connect: every option `wd_client_new` and `wd_client_start` take.
    public struct Configuration: Sendable {
        /// Where the client's closures run.
        public enum Dispatch: String, Sendable {
            /// On the client's own event thread (the default).
            case thread
            /// Inside ``Client/dispatch(timeout:)``, on the thread that calls it
            /// (for apps with their own loop).
            case manual
            /// Directly on the client's I/O thread: less latency, but closures
            /// must not block.
            case io
        }

        /// Server URLs (`ws://` or `wss://`), tried in turn when reconnecting.
        public var urls: [String]
        /// The token the server checks (`dev:<uid>` on a server in dev mode).
        public var token: String
        /// Where closures run; `.thread` by default.
        public var dispatch: Dispatch?
        /// How long ``Client/init(_:)`` may take to connect (library default 10 s).
        public var connectTimeout: Duration?
        /// How long an accept or a reject waits for the caller's outcome (library default 10 s).
        public var confirmTimeout: Duration?
        /// How often the client pings the server (library default 5 s).
        public var heartbeatInterval: Duration?
        /// After how long without a frame the link counts as dead (library default 15 s).
        public var deadAfter: Duration?
        /// Whether a lost connection is retried (library default true).
        public var reconnect: Bool?
        /// The shortest delay before a reconnection attempt.
        public var reconnectMinDelay: Duration?
        /// The longest delay before a reconnection attempt.
        public var reconnectMaxDelay: Duration?
        /// A PEM file of CA certificates to trust for `wss://`.
        public var caFile: String?
        /// PEM text of CA certificates to trust for `wss://`.
        public var caPEM: String?

        /// A configuration for one server URL.
        public init(url: String, token: String) {
            self.urls = [url]
            self.token = token
        }

        /// A configuration for several server URLs.
        public init(urls: [String], token: String) {
            self.urls = urls
            self.token = token
        }

        /// The JSON object `wd_client_new` takes.
        func json() throws -> String {
            var object: [String: Any] = ["token": token]
            if urls.count == 1 { object["url"] = urls[0] } else { object["urls"] = urls }
            if let dispatch { object["dispatch"] = dispatch.rawValue }
            if let connectTimeout { object["connectTimeoutMs"] = milliseconds(connectTimeout) }
            if let confirmTimeout { object["confirmTimeoutMs"] = milliseconds(confirmTimeout) }
            if let heartbeatInterval { object["heartbeatMs"] = milliseconds(heartbeatInterval) }
            if let deadAfter { object["deadAfterMs"] = milliseconds(deadAfter) }
            if let reconnect { object["reconnect"] = reconnect }
            if let reconnectMinDelay { object["reconnectMinMs"] = milliseconds(reconnectMinDelay) }
            if let reconnectMaxDelay { object["reconnectMaxMs"] = milliseconds(reconnectMaxDelay) }
            if let caFile { object["caFile"] = caFile }
            if let caPEM { object["caPem"] = caPEM }
            return try jsonText(object)
        }
    }

    let handle: OpaquePointer
    let invitesHub = EventHub<IncomingInvite>(policy: .bufferUntilFirstListener, isTerminal: { _ in false })
    let stateHub = EventHub<ConnectionState>(policy: .latest, isTerminal: { $0 == .disconnected })
    let pushHub = EventHub<PushEvent>(policy: .bufferUntilFirstListener, isTerminal: { _ in false })
    private let knownUID = Locked<String?>(nil)

    /// This client's user id, as the server took it from the token. A
    /// client of ``start(_:)`` learns it on its first connection: until
    /// then it is `""`.
    public var uid: String {
        if let known = knownUID.withLock({ $0 }) { return known }
        // The library fixes the uid on the first connection and keeps it
        // for the client's lifetime; before that it answers INVALID_STATE.
        guard let uid = ownedString({ wd_client_uid(handle, $0) }) else { return "" }
        knownUID.withLock { $0 = uid }
        return uid
    }

    /// Takes over a client handle and sets the wrapper's callbacks on it.
    private init(handle client: OpaquePointer) {
        handle = client
        // No hub references the client, so dropping the client frees it.
        let invitesBox = invitesHub.retainedForC()
        if wd_client_set_invite_callback(client, clientInviteCallback, invitesBox, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(invitesBox).release()
        }
        let stateBox = stateHub.retainedForC()
        if wd_client_set_connection_callback(client, clientConnectionCallback, stateBox, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(stateBox).release()
        }
        let pushBox = pushHub.retainedForC()
        if wd_client_set_push_callback(client, clientPushCallback, pushBox, releaseCallbackBox) != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(pushBox).release()
        }
    }

    /// Connects and waits until the server has accepted the token (or
    /// `connectTimeout` passed). Blocks the calling thread while connecting;
    /// from async code prefer ``connect(_:)``.
    ///
    /// - Throws: ``WilddogError`` with `.unauthorized` (token refused),
    ///   `.network` (server unreachable), `.invalidArgument` (a bad option,
    ///   named in the message), `.tls` or `.protocolError`.
    public convenience init(_ configuration: Configuration) throws(WilddogError) {
        self.init(handle: try Client.create(configuration, "wd_client_new", wd_client_new))
    }

    /// Connects to `url` with `token` and default options.
    public convenience init(url: String, token: String) throws(WilddogError) {
        try self.init(Configuration(url: url, token: token))
    }

    /// A client that connects in the background (`wd_client_start`):
    /// returns at once, without touching the network, so an app a push
    /// just woke can hand the push to ``handlePush(_:)`` before any network
    /// round trip. The connection then comes and goes as
    /// ``onConnectionStateChange(_:)`` reports (`connecting`, `connected`,
    /// …); an unreachable server or a refused token shows there, ending in
    /// ``ConnectionState/disconnected`` when the client gives up, never as
    /// an error here. ``uid`` is `""` until the first connection.
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` for a bad option
    ///   only (named in the message).
    public static func start(_ configuration: Configuration) throws(WilddogError) -> Client {
        Client(handle: try create(configuration, "wd_client_start", wd_client_start))
    }

    /// Runs a constructor of the C API with the configuration's JSON.
    private static func create(
        _ configuration: Configuration,
        _ name: String,
        _ constructor: (UnsafePointer<CChar>?, UnsafeMutablePointer<OpaquePointer?>?) -> UInt32
    ) throws(WilddogError) -> OpaquePointer {
        let config: String
        do { config = try configuration.json() } catch {
            throw WilddogError(code: .invalidArgument, message: "configuration: \(error)")
        }
        var client: OpaquePointer?
        try withOptionalCString(config, field: "configuration") { (text) throws(WilddogError) in
            try check(constructor(text, &client))
        }
        guard let client else { throw WilddogError(code: .panic, message: "\(name) returned no client") }
        return client
    }

    /// Connects without blocking a thread of Swift's concurrency pool (the
    /// blocking connect runs on a thread of its own).
    public static func connect(_ configuration: Configuration) async throws(WilddogError) -> Client {
        let result: Result<Client, WilddogError> = await withCheckedContinuation { continuation in
            let thread = Thread {
                do throws(WilddogError) {
                    let client = try Client(configuration)
                    // The client was built on this thread; the awaiting
                    // task reads it on another (see Sanitizer.swift).
                    releasedToC(Unmanaged.passUnretained(client).toOpaque())
                    continuation.resume(returning: .success(client))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.name = "wilddog-video connect"
            thread.start()
        }
        let client = try result.get()
        acquiredFromC(Unmanaged.passUnretained(client).toOpaque())
        return client
    }

    /// Connects to `url` with `token` and default options, without blocking
    /// a thread of Swift's concurrency pool.
    public static func connect(url: String, token: String) async throws(WilddogError) -> Client {
        try await connect(Configuration(url: url, token: token))
    }

    /// Frees the client (`wd_client_free`): closes the connection, which ends
    /// pending outgoing invites and conversations. Blocks until the client's
    /// I/O thread has ended.
    deinit {
        wd_client_free(handle)
    }

    /// The id the server gave this connection (this device); a new one after
    /// each reconnection.
    public var device: String {
        (try? copyOut { wd_client_device(handle, $0, $1, $2) }) ?? ""
    }

    /// The connection's state now.
    public var connectionState: ConnectionState {
        enumValue { wd_client_connection_state(handle, $0) } ?? .disconnected
    }

    /// Invites a user to a new conversation (`inviteToConversation`).
    ///
    /// The invite is ``OutgoingStatus/pending`` when this returns; its outcome
    /// arrives as an event (``OutgoingInvite/onEvent(_:)``,
    /// ``OutgoingInvite/events``, ``OutgoingInvite/accepted()``).
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` for a bad option
    ///   (e.g. `userData` over 8 KiB; the message names it) or
    ///   `.notConnected`.
    public func inviteToConversation(participantId: String, options: InviteOptions = InviteOptions()) throws(WilddogError) -> OutgoingInvite {
        let json = try options.json(participantId: participantId)
        var invite: OpaquePointer?
        try withOptionalCString(json, field: "participantId") { (text) throws(WilddogError) in
            try check(wd_client_invite(handle, text, &invite))
        }
        return OutgoingInvite(owning: invite!)
    }

    /// Calls `handler` with every incoming invite, on the client's event
    /// thread. Invites that arrived before the first handler or stream was
    /// added are handed to it. Returns the client, to chain calls.
    @discardableResult
    public func onInvite(_ handler: @escaping @Sendable (IncomingInvite) -> Void) -> Client {
        invitesHub.add(handler)
        return self
    }

    /// The incoming invites, as a stream (it ends when the client is freed).
    public var invites: AsyncStream<IncomingInvite> { invitesHub.stream() }

    /// Calls `handler` with the current connection state at once, then with
    /// every change (`disconnected` last). Returns the client, to chain calls.
    @discardableResult
    public func onConnectionStateChange(_ handler: @escaping @Sendable (ConnectionState) -> Void) -> Client {
        stateHub.add(handler)
        return self
    }

    /// The connection state now and at every change, as a stream; it ends
    /// after ``ConnectionState/disconnected``.
    public var connectionStates: AsyncStream<ConnectionState> { stateHub.stream() }

    /// Closes the connection: pending outgoing invites end `failed(network)`,
    /// conversations end; the state becomes ``ConnectionState/disconnected``.
    /// Calling it again does nothing. Blocks until the connection has ended.
    public func disconnect() throws(WilddogError) {
        try check(wd_client_disconnect(handle))
    }

    /// With ``Configuration/Dispatch/manual``: runs the closures that are due
    /// on the calling thread, waiting up to `timeout` for the first one, and
    /// returns how many deliveries it ran (0 when the wait timed out).
    ///
    /// - Throws: `.invalidState` in the other dispatch modes or from inside a
    ///   closure.
    @discardableResult
    public func dispatch(timeout: Duration) throws(WilddogError) -> Int {
        var count = 0
        let ms = UInt32(clamping: milliseconds(timeout))
        try check(wd_client_dispatch(handle, ms, &count))
        return count
    }
}

/// Options of an invite (`wd_client_invite`'s JSON, without `participantId`).
public struct InviteOptions: Sendable, Equatable {
    /// How the conversation carries media; `.p2p` by default.
    public var mode: Mode
    /// Text shown to the invitee, at most 8 KiB.
    public var userData: String?
    /// The SDP offer for the invitee, at most 64 KiB.
    public var offer: String?
    /// How long the invite may ring (library default 60 s).
    public var lifetime: Duration?

    /// Options with the given values (every one optional).
    public init(mode: Mode = .p2p, userData: String? = nil, offer: String? = nil, lifetime: Duration? = nil) {
        self.mode = mode
        self.userData = userData
        self.offer = offer
        self.lifetime = lifetime
    }

    func json(participantId: String) throws(WilddogError) -> String {
        var object: [String: Any] = ["participantId": participantId, "mode": mode.jsonName]
        if let userData { object["userData"] = userData }
        if let offer { object["offer"] = offer }
        if let lifetime { object["lifetimeMs"] = milliseconds(lifetime) }
        do { return try jsonText(object) } catch {
            throw WilddogError(code: .invalidArgument, message: "options: \(error)")
        }
    }
}

/// Whole milliseconds of a duration (negative durations become 0).
func milliseconds(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    let ms = seconds.multipliedReportingOverflow(by: 1000)
    if ms.overflow { return seconds < 0 ? 0 : Int64.max }
    return max(0, ms.partialValue + attoseconds / 1_000_000_000_000_000)
}

/// A JSON object's text.
func jsonText(_ object: [String: Any]) throws -> String {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
}

private let clientInviteCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?) -> Void = { userData, invite in
    guard let userData, let invite else {
        if let invite { wd_incoming_invite_free(invite) }
        return
    }
    let hub = EventHub<IncomingInvite>.from(userData)
    hub.publish(IncomingInvite.wrap(owning: invite))
}

private let clientConnectionCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UInt32) -> Void = { userData, _, state in
    guard let userData, let state = ConnectionState(rawValue: state) else { return }
    let hub = EventHub<ConnectionState>.from(userData)
    hub.publish(state)
}
