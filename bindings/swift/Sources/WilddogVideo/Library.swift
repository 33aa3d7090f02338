import CWilddogVideo

/// Process-wide facts and settings of the C library.
public enum Library {
    /// The version of the library linked at run time, `"MAJOR.MINOR.PATCH"`.
    public static var version: String { String(cString: wd_version()) }

    /// The version of the header this wrapper was compiled with.
    public static var headerVersion: String { "\(WD_VERSION_MAJOR).\(WD_VERSION_MINOR).\(WD_VERSION_PATCH)" }

    /// Routes the library's log messages up to `maxLevel` to `handler`
    /// (`level`, `target` module, `message`); `nil` silences it again. The
    /// handler may run on any of the library's threads, several at once: it
    /// must be quick and must not call the SDK.
    ///
    /// - Throws: ``WilddogError`` with `.invalidState` if the process already
    ///   has another logger of the Rust `log` crate.
    public static func setLogHandler(maxLevel: LogLevel = .info, _ handler: (@Sendable (LogLevel, String, String) -> Void)?) throws(WilddogError) {
        guard let handler else {
            try check(wd_set_log_callback(nil, 0, nil, nil))
            return
        }
        let box = LogBox(handler).retainedForC()
        let result = wd_set_log_callback(logCallback, maxLevel.rawValue, box, releaseCallbackBox)
        if result != WD_RESULT_OK.rawValue {
            Unmanaged<CallbackBox>.fromOpaque(box).release()
            throw WilddogError(result: result)
        }
    }
}

/// The log handler, as the library's `user_data`.
private final class LogBox: CallbackBox, @unchecked Sendable {
    // @unchecked Sendable: `handler` is immutable and itself Sendable.
    let handler: @Sendable (LogLevel, String, String) -> Void
    init(_ handler: @escaping @Sendable (LogLevel, String, String) -> Void) { self.handler = handler }
}

private let logCallback: @convention(c) (UnsafeMutableRawPointer?, UInt32, UnsafePointer<CChar>?, UnsafePointer<CChar>?) -> Void = { userData, level, target, message in
    guard let userData, let level = LogLevel(rawValue: level) else { return }
    let box = LogBox.from(userData)
    box.handler(level, target.map { String(cString: $0) } ?? "", message.map { String(cString: $0) } ?? "")
}
