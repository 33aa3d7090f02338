import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The test push gateway run-tests.sh starts (tests/support/push_gateway.py,
/// `WILDDOG_TEST_GATEWAY`), which the test server pushes through: what it
/// recorded, and how it answers.
enum Gateway {
    /// Its URL, `http://127.0.0.1:PORT`.
    static var url: String {
        guard let url = ProcessInfo.processInfo.environment["WILDDOG_TEST_GATEWAY"], !url.isEmpty else {
            fatalError("WILDDOG_TEST_GATEWAY is not set: run the tests with bindings/swift/run-tests.sh")
        }
        return url
    }

    /// One push the gateway recorded (one device of one notification).
    struct Push: Sendable {
        /// The notification's type: `wd.invite` or `wd.invite_ended`.
        let type: String
        /// The device's push key.
        let pushKey: String
        /// Whether the gateway answered the key rejected.
        let rejected: Bool
        /// The notification's `content` (the SDK's payload), as JSON text.
        let content: String
        /// The device's `data.default_payload` as JSON text: what Sygnal
        /// sends to APNs, so what PushKit hands the app as its
        /// `dictionaryPayload`.
        let apnsPayloadText: String

        /// ``apnsPayloadText`` as PushKit's `dictionaryPayload`.
        var apnsPayload: [AnyHashable: Any] {
            let object = try? JSONSerialization.jsonObject(with: Data(apnsPayloadText.utf8))
            let dictionary = object as? [String: Any] ?? [:]
            return Dictionary(uniqueKeysWithValues: dictionary.map { (AnyHashable($0.key), $0.value) })
        }

        /// The payload's field `name` if it is text.
        func field(_ name: String) -> String? {
            payload[name] as? String
        }

        /// The payload's field `name` if it is a boolean.
        func flag(_ name: String) -> Bool? {
            payload[name] as? Bool
        }

        private var payload: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(content.utf8))) as? [String: Any] ?? [:]
        }
    }

    /// Every push to `pushKey` so far (of `type`, if given), oldest first.
    static func pushes(to pushKey: String, type: String? = nil) throws -> [Push] {
        var query = "pushkey=\(percentEncoded(pushKey))"
        if let type { query += "&type=\(percentEncoded(type))" }
        let (status, body) = try request("GET", "/pushes?\(query)")
        guard status == 200, let list = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [[String: Any]] else {
            throw GatewayError(what: "GET /pushes answered \(status): \(body)")
        }
        return try list.map { record in
            guard let type = record["type"] as? String, let key = record["pushkey"] as? String,
                  let content = record["content"]
            else { throw GatewayError(what: "a push record without type, pushkey or content: \(record)") }
            let defaultPayload = (record["data"] as? [String: Any])?["default_payload"] ?? [String: Any]()
            return Push(
                type: type,
                pushKey: key,
                rejected: record["rejected"] as? Bool ?? false,
                content: try text(content),
                apnsPayloadText: try text(defaultPayload)
            )
        }
    }

    /// The first push of `type` to `pushKey`, waiting (at most the limit)
    /// until the gateway has recorded it.
    static func push(to pushKey: String, type: String) async throws -> Push {
        try await within("a \(type) push to \(pushKey)") {
            while true {
                if let push = try pushes(to: pushKey, type: type).first { return push }
                // The gateway has no way to wait for a push; asking again
                // after a short pause polls that condition, and `within`
                // bounds it.
                try await Task.sleep(for: .milliseconds(20))
            }
        }
    }

    /// Makes the gateway answer `pushKey` as rejected (a dead token).
    static func reject(_ pushKey: String) throws {
        let body = try text(["reject": [pushKey]])
        let (status, answer) = try request("POST", "/control", body: body)
        guard status == 200 else { throw GatewayError(what: "POST /control answered \(status): \(answer)") }
    }

    private static func text(_ object: Any) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .fragmentsAllowed]), as: UTF8.self)
    }

    private static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? text
    }

    /// One HTTP/1.1 request to the gateway over loopback; the status and
    /// the body.
    static func request(_ method: String, _ path: String, body: String = "") throws -> (Int, String) {
        let hostPort = url.replacingOccurrences(of: "http://", with: "").split(separator: ":")
        guard hostPort.count == 2, let port = UInt16(hostPort[1]) else { throw GatewayError(what: "bad gateway URL \(url)") }
        #if os(Linux)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let fd = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard fd >= 0 else { throw GatewayError(what: "socket: errno \(errno)") }
        defer { close(fd) }
        // A failure bound for each read; never waited out when the gateway works.
        var timeout = timeval(tv_sec: 15, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        guard inet_pton(AF_INET, String(hostPort[0]), &address.sin_addr) == 1 else { throw GatewayError(what: "bad host in \(url)") }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw GatewayError(what: "connect to \(url): errno \(errno)") }
        let request = Array("\(method) \(path) HTTP/1.1\r\nHost: \(hostPort[0])\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)".utf8)
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw GatewayError(what: "send: errno \(errno)") }
            sent += n
        }
        var answer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n == 0 { break }
            guard n > 0 else { throw GatewayError(what: "recv: errno \(errno)") }
            answer += chunk[..<n]
        }
        let text = String(decoding: answer, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw GatewayError(what: "no HTTP answer: \(text)") }
        let statusLine = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        let status = statusLine.split(separator: " ").dropFirst().first.flatMap { Int($0) } ?? 0
        return (status, String(text[split.upperBound...]))
    }
}

/// The gateway did not answer as expected.
struct GatewayError: Error, CustomStringConvertible {
    let what: String
    var description: String { what }
}
