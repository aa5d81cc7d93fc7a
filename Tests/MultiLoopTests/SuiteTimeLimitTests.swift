import Foundation
import Testing

/// Every suite carries a `.timeLimit` (issue 13), so that a test that hangs but still answers
/// cancellation fails with its name ("Time limit was exceeded") instead of stalling the run. A
/// hang that does not answer cancellation (a thread blocked in a wait, a spin) is ended by the
/// deadline the Makefile runs the suite under, `.ci/swift-test-deadline.py`; docs/design.md,
/// "Tests and hangs", says what each layer catches.
///
/// Every limit is 5 minutes. The runner starts a test's clock as soon as it reaches the test, and
/// it reaches nearly the whole suite at once, while the bodies wait their turn on the 2-thread
/// cooperative pool: a test's clock can run for nearly the whole run, however short the test.
/// Under ThreadSanitizer on 2 busy cores a whole run takes 40-90 s, and with 1-minute limits 89
/// quick tests of synchronous suites failed with "Time limit was exceeded" in a 67 s run.
@Suite("Every suite has a time limit", .timeLimit(.minutes(5)))
struct SuiteTimeLimitTests {
    static let minimumMinutes = 5

    @Test("every @Suite of every test target (Tests/*Tests) carries .timeLimit of 5 minutes or more, and every @Test is inside one or has its own")
    func everySuiteHasATimeLimit() throws {
        // Tests/, the folder of every test target's folder.
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        let targets = try Self.testTargetFolders(in: directory)
        #expect(targets.contains("MultiLoopTests") && targets.contains("MultiLoopStressTests"), "\(targets)")
        let files = try targets.flatMap { try Self.swiftFiles(under: directory.appendingPathComponent($0)) }
        #expect(files.count >= 40, "found only \(files.count) Swift files under \(directory.path)/*Tests")
        var suites = 0
        var tests = 0
        for file in files {
            let scan = SuiteScan(try String(contentsOf: file, encoding: .utf8))
            let name = file.path.replacingOccurrences(of: directory.path + "/", with: "")
            for suite in scan.suites {
                suites += 1
                #expect(suite.timeLimitMinutes != nil, "\(name):\(suite.line): @Suite without .timeLimit(.minutes(n))")
            }
            tests += scan.tests.count
            for test in scan.tests where !test.insideSuite && test.timeLimitMinutes == nil {
                Issue.record("\(name):\(test.line): @Test outside any @Suite and without its own .timeLimit")
            }
            for attribute in scan.suites + scan.tests {
                guard let minutes = attribute.timeLimitMinutes else { continue }
                #expect(minutes >= Self.minimumMinutes, """
                    \(name):\(attribute.line): a time limit under \(Self.minimumMinutes) minutes (or not written as \
                    .timeLimit(.minutes(n))) fails quick tests under TSan on a busy machine: a test's clock \
                    runs while it waits for a thread
                    """)
            }
        }
        #expect(suites >= 53 && tests >= 400, "found only \(suites) suites and \(tests) tests")
    }

    @Test("the scan sees a suite without a limit and a test outside any suite, and skips comments and strings")
    func scanFindsWhatIsMissing() {
        let source = #"""
            // @Suite("in a comment") is not a suite
            /* nor in /* a nested */ block comment: @Suite("x") */
            @Suite("limited", .serialized, .timeLimit(.minutes(2)))
            struct Limited {
                let text = "@Suite(\"in a string\") \(min(1, 2)) @Test"
                @Test("inside") func inside() {}
                struct Nested { @Test func nested() {} }
            }
            @Suite("unlimited") struct Unlimited { @Test func a() {} }
            @Suite struct Bare {}
            struct Implicit { @Test func outside() {} }
            @Test(.timeLimit(.minutes(5))) func global() {}
            @Suite("named limit", .timeLimit(limit)) struct Named {}
            """#
        let scan = SuiteScan(source)
        #expect(scan.suites.map(\.line) == [3, 9, 10, 13])
        #expect(scan.suites.map(\.timeLimitMinutes) == [2, nil, nil, 0])
        #expect(scan.tests.map(\.line) == [6, 7, 9, 11, 12])
        #expect(scan.tests.map(\.insideSuite) == [true, true, true, false, false])
        #expect(scan.tests.map(\.timeLimitMinutes) == [nil, nil, nil, nil, 5])
    }

    /// The folders of the test targets: those under `directory` whose names end in "Tests".
    static func testTargetFolders(in directory: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix("Tests") }.sorted()
    }

    static func swiftFiles(under directory: URL) throws -> [URL] {
        let paths = try FileManager.default.subpathsOfDirectory(atPath: directory.path)
        return paths.filter { $0.hasSuffix(".swift") }.sorted().map { directory.appendingPathComponent($0) }
    }
}

/// The `@Suite` and `@Test` attributes of a Swift source file, outside comments and string
/// literals, with the braces each `@Test` sits in: enough to check the attributes' arguments, not
/// a Swift parser.
struct SuiteScan {
    struct Attribute {
        var line: Int
        /// n for `.timeLimit(.minutes(n))`; 0 for a time limit written otherwise; nil for none.
        var timeLimitMinutes: Int?
        /// For a `@Test`: whether a brace scope around it belongs to a type marked `@Suite`.
        var insideSuite = false
    }

    private(set) var suites: [Attribute] = []
    private(set) var tests: [Attribute] = []

    private let bytes: [UInt8]
    private var index = 0

    init(_ source: String) {
        bytes = Array(source.utf8)
        var scopes: [Bool] = []  // for each open brace: whether it opens a @Suite's body
        var suitePending = false  // a @Suite was seen, its body's brace not yet
        while index < bytes.count {
            if skipCommentOrString() { continue }
            switch bytes[index] {
            case UInt8(ascii: "@"):
                let start = index
                index += 1
                let name = identifier()
                guard name == "Suite" || name == "Test" else { continue }
                let arguments = attributeArguments()
                var attribute = Attribute(line: line(of: start), timeLimitMinutes: Self.timeLimitMinutes(in: arguments))
                if name == "Suite" {
                    suites.append(attribute)
                    suitePending = true
                } else {
                    attribute.insideSuite = scopes.contains(true)
                    tests.append(attribute)
                }
                continue
            case UInt8(ascii: "{"):
                scopes.append(suitePending)
                suitePending = false
            case UInt8(ascii: "}"):
                _ = scopes.popLast()
            default:
                break
            }
            index += 1
        }
    }

    private static func timeLimitMinutes(in arguments: String) -> Int? {
        guard arguments.contains(".timeLimit(") else { return nil }
        let literal = arguments.firstMatch(of: #/\.timeLimit\(\s*\.minutes\(\s*(\d+)\s*\)\s*\)/#)
        return literal.flatMap { Int($0.1) } ?? 0
    }

    private func line(of offset: Int) -> Int {
        bytes[..<offset].reduce(1) { $1 == UInt8(ascii: "\n") ? $0 + 1 : $0 }
    }

    private func starts(with text: String, at offset: Int) -> Bool {
        let pattern = text.utf8
        return offset + pattern.count <= bytes.count && zip(bytes[offset...], pattern).allSatisfy { $0 == $1 }
    }

    private mutating func identifier() -> String {
        let start = index
        while index < bytes.count, bytes[index] == UInt8(ascii: "_") || (bytes[index] < 128 && isalnum(Int32(bytes[index])) != 0) {
            index += 1
        }
        return String(decoding: bytes[start..<index], as: UTF8.self)
    }

    /// The text between an attribute's parentheses, or "" when it has none.
    private mutating func attributeArguments() -> String {
        var probe = index
        while probe < bytes.count, bytes[probe] == UInt8(ascii: " ") || bytes[probe] == UInt8(ascii: "\n") { probe += 1 }
        guard probe < bytes.count, bytes[probe] == UInt8(ascii: "(") else { return "" }
        index = probe + 1
        skipBalancedParentheses()
        return String(decoding: bytes[(probe + 1)..<max(probe + 1, index - 1)], as: UTF8.self)
    }

    /// From just after an opening parenthesis to just after its closing one.
    private mutating func skipBalancedParentheses() {
        var depth = 1
        while index < bytes.count {
            if skipCommentOrString() { continue }
            if bytes[index] == UInt8(ascii: "(") { depth += 1 }
            if bytes[index] == UInt8(ascii: ")") {
                depth -= 1
                if depth == 0 {
                    index += 1
                    return
                }
            }
            index += 1
        }
    }

    /// Skips a comment or a string literal (raw, multi-line and interpolated ones included)
    /// starting at `index`; false when none starts there.
    private mutating func skipCommentOrString() -> Bool {
        if starts(with: "//", at: index) {
            while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            return true
        }
        if starts(with: "/*", at: index) {
            var depth = 0
            repeat {
                if starts(with: "/*", at: index) {
                    depth += 1
                    index += 2
                } else if starts(with: "*/", at: index) {
                    depth -= 1
                    index += 2
                } else {
                    index += 1
                }
            } while depth > 0 && index < bytes.count
            return true
        }
        var hashes = 0
        while index + hashes < bytes.count, bytes[index + hashes] == UInt8(ascii: "#") { hashes += 1 }
        guard index + hashes < bytes.count, bytes[index + hashes] == UInt8(ascii: "\"") else { return false }
        index += hashes
        let multiline = starts(with: "\"\"\"", at: index)
        index += multiline ? 3 : 1
        let delimiter = multiline ? "\"\"\"" : "\""
        let closing = delimiter + String(repeating: "#", count: hashes)
        let escape = "\\" + String(repeating: "#", count: hashes)
        while index < bytes.count {
            if starts(with: escape, at: index) {
                index += escape.utf8.count
                if index < bytes.count, bytes[index] == UInt8(ascii: "(") {
                    index += 1
                    skipBalancedParentheses()  // an interpolation: code, maybe with strings of its own
                } else {
                    index += 1
                }
            } else if starts(with: closing, at: index) {
                index += closing.utf8.count
                return true
            } else {
                index += 1
            }
        }
        return true
    }
}
