import CWilddogVideo
import Foundation

/// The push service a device's key belongs to (`provider` of
/// `wd_client_register_push`).
public enum PushProvider: String, Sendable, CaseIterable, Codable {
    /// Apple Push Notification service (PushKit VoIP pushes on iOS).
    case apns
    /// Firebase Cloud Messaging (Android).
    case fcm
    /// Web Push (browsers, and tests).
    case webpush
}

/// A device's push registration: where the server's push gateway can wake
/// this app when an invite comes while it holds no connection
/// (docs/push.md).
public struct PushRegistration: Sendable, Hashable {
    /// The push service.
    public var provider: PushProvider
    /// The id the push gateway knows the app by (a Sygnal `apps` key, e.g.
    /// `com.example.app.voip`); at most 128 bytes.
    public var appID: String
    /// The device's push key (an APNs token in lowercase hex, an FCM
    /// registration token, a Web Push `p256dh` key); at most 512 bytes.
    public var pushKey: String
    /// Extra fields the gateway reads (Web Push: `endpoint` and `auth`);
    /// at most 2 KiB as JSON.
    public var data: [String: String]

    /// A registration with a push key given as text.
    public init(provider: PushProvider, appID: String, pushKey: String, data: [String: String] = [:]) {
        self.provider = provider
        self.appID = appID
        self.pushKey = pushKey
        self.data = data
    }

    /// A registration with a push key given as bytes (PushKit's
    /// `PKPushCredentials.token`), sent as lowercase hex.
    public init(provider: PushProvider, appID: String, pushKey: Data, data: [String: String] = [:]) {
        self.init(provider: provider, appID: appID, pushKey: hex(pushKey), data: data)
    }

    /// The JSON object `wd_client_register_push` takes.
    func json() throws(WilddogError) -> String {
        var object: [String: Any] = ["provider": provider.rawValue, "appId": appID, "pushKey": pushKey]
        if !data.isEmpty { object["data"] = data }
        do { return try jsonText(object) } catch {
            throw WilddogError(code: .invalidArgument, message: "registration: \(error)")
        }
    }
}

/// What happened to a push registration of this client
/// (`wd_push_event`).
public enum PushEvent: Sendable, Hashable {
    /// The server stored the registration (on each connection that sent it).
    case registered(appID: String, pushKey: String)
    /// The server refused the registration; `message` says why (a server
    /// without push, a limit). The client does not retry until the next
    /// connection.
    case registrationFailed(appID: String, pushKey: String, message: String)
    /// The registration is gone, as ``Client/unregisterPush(appID:pushKey:)``
    /// asked.
    case unregistered(appID: String, pushKey: String)
    /// The push gateway reported the key dead and the server dropped it:
    /// get a fresh token from the platform and register it.
    case rejected(appID: String, pushKey: String)

    /// The registration's app id.
    public var appID: String {
        switch self {
        case .registered(let appID, _), .registrationFailed(let appID, _, _),
             .unregistered(let appID, _), .rejected(let appID, _):
            return appID
        }
    }

    /// The registration's push key.
    public var pushKey: String {
        switch self {
        case .registered(_, let pushKey), .registrationFailed(_, let pushKey, _),
             .unregistered(_, let pushKey), .rejected(_, let pushKey):
            return pushKey
        }
    }
}

extension Client {
    /// Registers this device's push key with the server, so that an invite
    /// that comes while the app holds no connection wakes it through the
    /// push gateway. Callable before the client has connected (a client of
    /// ``start(_:)``); the client remembers the registration and sends it
    /// on every connection. The server's answer comes as
    /// ``PushEvent/registered(appID:pushKey:)`` or
    /// ``PushEvent/registrationFailed(appID:pushKey:message:)``
    /// (``onPushEvent(_:)``, ``pushEvents``).
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` for a field over
    ///   its limit or empty (the message names it: `appId`, `pushKey`,
    ///   `data`).
    public func registerPush(_ registration: PushRegistration) throws(WilddogError) {
        let json = try registration.json()
        try withOptionalCString(json, field: "registration") { (text) throws(WilddogError) in
            try check(wd_client_register_push(handle, text))
        }
    }

    /// Removes a push registration (this device's, or a stale one): the
    /// server stops pushing to the key. Sent now if connected, else on the
    /// next connection, until the server confirms with
    /// ``PushEvent/unregistered(appID:pushKey:)``.
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` for an empty or
    ///   oversized field.
    public func unregisterPush(appID: String, pushKey: String) throws(WilddogError) {
        try withOptionalCString(appID, field: "appId") { (app) throws(WilddogError) in
            try withOptionalCString(pushKey, field: "pushKey") { (key) throws(WilddogError) in
                try check(wd_client_unregister_push(handle, app, key))
            }
        }
    }

    /// ``unregisterPush(appID:pushKey:)`` with the key as bytes (PushKit's
    /// token), hex-encoded as ``PushRegistration`` encodes it.
    public func unregisterPush(appID: String, pushKey: Data) throws(WilddogError) {
        try unregisterPush(appID: appID, pushKey: hex(pushKey))
    }

    /// Turns a push (PushKit's `PKPushPayload.dictionaryPayload`, an FCM
    /// data map, or any dictionary holding the SDK's payload) into the
    /// invite it announces, at once and without the network, so the app
    /// can report the call to CallKit inside the push callback.
    ///
    /// The invite is readable at once (`from`, `conversationId`, `mode`,
    /// `userData` when it fit the push) and ``IncomingStatus/pending``. The
    /// client then connects if it is not connected and fetches the
    /// invite's state: ``IncomingInvite/confirmed()`` returns when the
    /// server confirms it still rings (its offer and full user data are
    /// then readable); an invite that ended meanwhile hears the outcome it
    /// would have had (`canceled(.callerCanceled)`,
    /// `canceled(.answeredElsewhere)`, `failed(.timeout)`,
    /// `failed(.callerGone)`), once. `accept` and `reject` may be called at
    /// once: they are carried out when the server has confirmed the invite.
    ///
    /// Every push gives an invite (iOS wants a call reported for each VoIP
    /// push): the push that says an invite ended, or a push for an invite
    /// that already ended, gives one that has already ended — show a
    /// missed call. The same invite through a push and over the connection
    /// is the same object, with one set of events. ``Client/onInvite(_:)``
    /// is not called for an invite a push announced.
    ///
    /// - Throws: ``WilddogError`` with `.invalidArgument` (nothing changes)
    ///   when the dictionary is not JSON, or holds no payload of this SDK
    ///   (the message names the field and why).
    public func handlePush(_ payload: [AnyHashable: Any]) throws(WilddogError) -> IncomingInvite {
        try handlePush(json: pushPayloadText(payload))
    }

    /// ``handlePush(_:)`` with the push as JSON text (an FCM data map, a
    /// Matrix notification, or the SDK's bare payload).
    public func handlePush(json: String) throws(WilddogError) -> IncomingInvite {
        var invite: OpaquePointer?
        try withOptionalCString(json, field: "payload") { (text) throws(WilddogError) in
            try check(wd_client_handle_push(handle, text, &invite))
        }
        guard let invite else { throw WilddogError(code: .panic, message: "wd_client_handle_push returned no invite") }
        return IncomingInvite.wrap(owning: invite)
    }

    /// Calls `handler` with every event of this client's push
    /// registrations, on the client's event thread. Events that came
    /// before the first handler or stream was added are handed to it.
    /// Returns the client, to chain calls.
    @discardableResult
    public func onPushEvent(_ handler: @escaping @Sendable (PushEvent) -> Void) -> Client {
        pushHub.add(handler)
        return self
    }

    /// The events of this client's push registrations, as a stream (it
    /// ends when the client is freed).
    public var pushEvents: AsyncStream<PushEvent> { pushHub.stream() }
}

/// Lowercase hex of `bytes` (an APNs token is sent this way).
func hex(_ bytes: Data) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out = [UInt8]()
    out.reserveCapacity(bytes.count * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}

/// The JSON text of a push dictionary. Keys must be strings and values
/// what JSON holds (strings, numbers, booleans, `NSNull`, arrays and
/// dictionaries of them), as in every APNs and FCM payload.
func pushPayloadText(_ payload: [AnyHashable: Any]) throws(WilddogError) -> String {
    var object: [String: Any] = [:]
    for (key, value) in payload {
        guard let name = key.base as? String else {
            throw WilddogError(code: .invalidArgument, message: "payload: key \(key) is not a string")
        }
        object[name] = value
    }
    // Checked first: serialising anything else traps on some platforms.
    guard JSONSerialization.isValidJSONObject(object) else {
        throw WilddogError(code: .invalidArgument, message: "payload: holds a value JSON cannot carry")
    }
    do { return try jsonText(object) } catch {
        throw WilddogError(code: .invalidArgument, message: "payload: \(error)")
    }
}

let clientPushCallback: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<wd_push_event>?) -> Void = { userData, _, event in
    guard let userData, let event else { return }
    let hub = EventHub<PushEvent>.from(userData)
    let raw = event.pointee
    func text(_ pointer: UnsafePointer<CChar>?) -> String { pointer.map { String(cString: $0) } ?? "" }
    let appID = text(raw.app_id)
    let pushKey = text(raw.push_key)
    switch PushEventKind(rawValue: raw.kind) {
    case .registered: hub.publish(.registered(appID: appID, pushKey: pushKey))
    case .registrationFailed: hub.publish(.registrationFailed(appID: appID, pushKey: pushKey, message: text(raw.message)))
    case .unregistered: hub.publish(.unregistered(appID: appID, pushKey: pushKey))
    case .rejected: hub.publish(.rejected(appID: appID, pushKey: pushKey))
    case nil: break  // a kind newer than this wrapper
    }
}
