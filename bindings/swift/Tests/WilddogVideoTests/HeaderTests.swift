import Foundation
import Testing
@testable import WilddogVideo

/// The wrapper matches the C header (no drift) and the Swift guide's
/// snippets are the compiled example's code.
@Suite struct HeaderTests {
    /// `WD_<NAME>_<CONSTANT> = <value>` of every `enum wd_*` in the header.
    static func headerEnums(_ header: String) throws -> [String: [String: UInt32]] {
        let pattern = try NSRegularExpression(pattern: #"enum\s+(wd_\w+)\s*(?:#ifdef __cplusplus[^{]*#endif[^{]*)?\{(.*?)\};"#, options: [.dotMatchesLineSeparators])
        let constant = try NSRegularExpression(pattern: #"\b(WD_\w+)\s*=\s*(\d+)"#)
        var enums: [String: [String: UInt32]] = [:]
        let text = header as NSString
        for match in pattern.matches(in: header, range: NSRange(location: 0, length: text.length)) {
            let name = text.substring(with: match.range(at: 1))
            let body = text.substring(with: match.range(at: 2))
            let prefix = name.uppercased() + "_"
            var values: [String: UInt32] = [:]
            let bodyText = body as NSString
            for c in constant.matches(in: body, range: NSRange(location: 0, length: bodyText.length)) {
                let full = bodyText.substring(with: c.range(at: 1))
                guard full.hasPrefix(prefix) else { continue }
                values[String(full.dropFirst(prefix.count))] = UInt32(bodyText.substring(with: c.range(at: 2)))
            }
            enums[name] = values
        }
        return enums
    }

    /// Every difference between the header's enums and the Swift ones.
    static func drift(_ header: String) throws -> [String] {
        let c = try headerEnums(header)
        var problems: [String] = []
        let swift = Dictionary(uniqueKeysWithValues: headerEnumMappings.map { ($0.cName, $0) })
        for (name, constants) in c.sorted(by: { $0.key < $1.key }) {
            guard let mapping = swift[name] else {
                problems.append("\(name): no Swift counterpart")
                continue
            }
            let expected = mapping.values.merging(mapping.implicit) { a, _ in a }
            for (constant, value) in constants.sorted(by: { $0.key < $1.key }) where expected[constant] != value {
                let have = expected[constant].map { "Swift has \($0)" } ?? "no Swift case"
                problems.append("\(name.uppercased())_\(constant) = \(value): \(have)")
            }
            for (constant, value) in mapping.values where constants[constant] == nil {
                problems.append("\(name.uppercased())_\(constant) = \(value) in Swift is not in the header")
            }
        }
        for name in swift.keys where c[name] == nil { problems.append("\(name): not in the header") }
        return problems
    }

    @Test func headerEnumsHaveSwiftCounterparts() throws {
        let header = try String(contentsOf: Env.root.appendingPathComponent("include/wilddog_video.h"), encoding: .utf8)
        #expect(try Self.headerEnums(header).count == 14)
        let problems = try Self.drift(header)
        #expect(problems.isEmpty, "header and Swift differ:\n\(problems.joined(separator: "\n"))")
        // The check itself sees a changed value, and a new constant.
        let changed = header.replacingOccurrences(of: "WD_OUTGOING_STATUS_FAILED = 4", with: "WD_OUTGOING_STATUS_FAILED = 5")
        #expect(try Self.drift(changed) == ["WD_OUTGOING_STATUS_FAILED = 5: Swift has 4"])
        let added = header.replacingOccurrences(of: "WD_CANCEL_REASON_GLARE = 3,", with: "WD_CANCEL_REASON_GLARE = 3,\n    WD_CANCEL_REASON_OTHER = 4,")
        #expect(try Self.drift(added) == ["WD_CANCEL_REASON_OTHER = 4: no Swift case"])
    }

    @Test func versionMatchesTheHeader() {
        #expect(Library.version == Library.headerVersion)
        #expect(WilddogError(code: .tls, message: "m").rawCode == 10)
    }

    /// Every ```swift block of docs/getting-started-swift.md is, word for word,
    /// part of the example program run-tests.sh builds and runs
    /// (Sources/GettingStarted), so each snippet compiles and runs.
    @Test func guideSnippetsAreTheExampleProgram() throws {
        let guide = try String(contentsOf: Env.root.appendingPathComponent("docs/getting-started-swift.md"), encoding: .utf8)
        let sources = Env.root.appendingPathComponent("bindings/swift/Sources/GettingStarted")
        let files = try FileManager.default.contentsOfDirectory(atPath: sources.path).filter { $0.hasSuffix(".swift") }
        let program = try files.map { try String(contentsOf: sources.appendingPathComponent($0), encoding: .utf8) }
        var blocks: [String] = []
        var current: [Substring]?
        for line in guide.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if current != nil, line == "```" {
                blocks.append(current!.joined(separator: "\n"))
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        #expect(blocks.count >= 2)
        for block in blocks {
            #expect(program.contains { $0.contains(block) }, "this snippet of the guide is not in bindings/swift/Sources/GettingStarted:\n\(block)")
        }
    }
}
