import CWilddogVideo

/// An SDK call that failed: the `wd_result` code the C library returned and
/// its explanation (`wd_last_error`, e.g. `"userData: longer than 8192 bytes"`,
/// or the code's description when the library gave no detail).
///
/// Thrown by every fallible method. An invite that ends without being
/// accepted is not a failed call; that outcome is an ``InviteOutcomeError``.
public struct WilddogError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The `wd_result` codes a call can fail with (`WD_RESULT_*`; success,
    /// `WD_RESULT_OK`, is no error).
    public enum Code: UInt32, Sendable, CaseIterable {
        /// A required pointer was NULL: a bug in the wrapper, never in your code.
        case nullParameter = 1
        /// An argument broke a rule (bad text, too long, a bad option); the
        /// message names it.
        case invalidArgument = 2
        /// Not valid in the object's current state (e.g. `cancel()` after the
        /// invite was accepted); nothing changed.
        case invalidState = 3
        /// The client has no connection to the server.
        case notConnected = 4
        /// A buffer was too small (handled inside the wrapper).
        case bufferTooSmall = 5
        /// The library failed internally (a caught Rust panic), or returned a
        /// code this wrapper does not know.
        case panic = 6
        /// The server refused the token.
        case unauthorized = 7
        /// The server could not be reached, or the connection broke.
        case network = 8
        /// The server answered something the library does not understand.
        case protocolError = 9
        /// The TLS handshake failed (untrusted, expired or wrong-host certificate).
        case tls = 10
    }

    /// What went wrong, as a code.
    public let code: Code
    /// The numeric `wd_result` the library returned (equals `code.rawValue`
    /// unless the library is newer than this wrapper).
    public let rawCode: UInt32
    /// The library's explanation: the detail of this failure, naming the
    /// field where there is one.
    public let message: String

    /// Creates an error from a `wd_result` code and a message.
    public init(code: Code, message: String) {
        self.code = code
        self.rawCode = code.rawValue
        self.message = message
    }

    /// Reads the calling thread's last-failure detail for `result`; call it
    /// right after the failing C call, on the same thread.
    init(result: UInt32) {
        self.code = Code(rawValue: result) ?? .panic
        self.rawCode = result
        let detail = lastErrorDetail()
        self.message = detail.isEmpty ? String(cString: wd_result_message(result)) : detail
    }

    /// `"<code>: <message>"`.
    public var description: String { "\(code): \(message)" }
}

/// How an invite ended when it was not accepted: what
/// ``OutgoingInvite/accepted()`` and ``IncomingInvite/accept(answer:userData:)``
/// throw for any other outcome.
public enum InviteOutcomeError: Error, Sendable, Equatable {
    /// The invitee rejected.
    case rejected(RejectReason)
    /// The invite was canceled (by the caller, by another device answering
    /// first, or by a glare).
    case canceled(CancelReason)
    /// The invite failed.
    case failed(FailureReason)
}

/// The detail of the calling thread's last failed SDK call ("" if none).
func lastErrorDetail() -> String {
    var needed = 0
    guard wd_last_error(nil, 0, &needed) == WD_RESULT_BUFFER_TOO_SMALL.rawValue, needed > 1 else { return "" }
    var buffer = [UInt8](repeating: 0, count: needed)
    let result = buffer.withUnsafeMutableBufferPointer { raw in
        raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: needed) { wd_last_error($0, needed, &needed) }
    }
    guard result == WD_RESULT_OK.rawValue, needed >= 1 else { return "" }
    return String(decoding: buffer[..<(needed - 1)], as: UTF8.self)
}

/// Throws a ``WilddogError`` unless `result` is `WD_RESULT_OK`.
@inline(__always)
func check(_ result: UInt32) throws(WilddogError) {
    if result != WD_RESULT_OK.rawValue { throw WilddogError(result: result) }
}

/// Calls a copy-out function of the C API (`buf`, `len`, `needed`) with a
/// buffer that grows until the text fits, and returns the text.
func copyOut(_ fill: (UnsafeMutablePointer<CChar>?, Int, UnsafeMutablePointer<Int>) -> UInt32) throws(WilddogError) -> String {
    var capacity = 256
    while true {
        var needed = 0
        var buffer = [UInt8](repeating: 0, count: capacity)
        let result = buffer.withUnsafeMutableBufferPointer { raw in
            raw.baseAddress!.withMemoryRebound(to: CChar.self, capacity: capacity) { fill($0, capacity, &needed) }
        }
        if result == WD_RESULT_OK.rawValue {
            return String(decoding: buffer[..<max(needed - 1, 0)], as: UTF8.self)
        }
        if result == WD_RESULT_BUFFER_TOO_SMALL.rawValue, needed > capacity {
            capacity = needed
            continue
        }
        throw WilddogError(result: result)
    }
}

/// Runs `body` with `text` as a NUL-terminated C string (NULL for nil);
/// text holding a NUL is an `invalidArgument` error naming `field` (C would
/// silently cut it there).
func withOptionalCString<R>(_ text: String?, field: String, _ body: (UnsafePointer<CChar>?) throws(WilddogError) -> R) throws(WilddogError) -> R {
    guard let text else { return try body(nil) }
    if text.utf8.contains(0) {
        throw WilddogError(code: .invalidArgument, message: "\(field): contains a NUL character")
    }
    let result: Result<R, WilddogError> = text.withCString { pointer in
        do throws(WilddogError) { return .success(try body(pointer)) } catch { return .failure(error) }
    }
    return try result.get()
}

/// A string the library owns (valid while the handle is held), copied.
func ownedString(_ get: (UnsafeMutablePointer<UnsafePointer<CChar>?>) -> UInt32) -> String? {
    var pointer: UnsafePointer<CChar>?
    guard get(&pointer) == WD_RESULT_OK.rawValue, let pointer else { return nil }
    return String(cString: pointer)
}

/// Reads a `wd_*` enum value through a C getter that stores it in its out
/// parameter: `nil` when the value has no case in `Value` (a header
/// `*_NONE`, or a value newer than this wrapper).
func enumValue<Value: RawRepresentable>(_ get: (UnsafeMutablePointer<UInt32>) -> UInt32) -> Value?
where Value.RawValue == UInt32 {
    var value: UInt32 = 0
    _ = get(&value)
    return Value(rawValue: value)
}
