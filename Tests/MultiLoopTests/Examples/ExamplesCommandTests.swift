import Testing
@_spi(Examples) @testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// `multiloop examples [NAME]` (`TutorialExamples.command`, what the executable's `main` calls
/// and exits with).
@Suite("Tutorial examples: the examples command", .timeLimit(.minutes(5)))
struct ExamplesCommandTests {
    typealias T = ExampleTesting

    /// Runs the command; returns its exit status, what it printed, and its error output.
    static func command(_ arguments: [String]) -> (status: Int32, output: [String], errors: String) {
        let output = Locked<[String]>([])
        var errors = ""
        let status = TutorialExamples.command(arguments: arguments, timeScale: T.quickScale,
                                              output: { line in output.withLock { $0.append(line) } },
                                              errorOutput: { errors += $0 })
        return (status, output.value, errors)
    }

    @Test("an unknown name: exit status 2, a message naming every example, nothing run")
    func unknownName() {
        let (status, output, errors) = Self.command(["nope"])
        #expect(status == 2)
        #expect(output.isEmpty)
        #expect(errors.contains("unknown example 'nope'"))
        for name in TutorialExamples.names { #expect(errors.contains(name)) }
    }

    @Test("more than one argument: exit status 2 and the usage")
    func tooManyArguments() {
        let (status, output, errors) = Self.command(["send", "gather"])
        #expect(status == 2)
        #expect(output.isEmpty)
        #expect(errors.contains("usage: multiloop examples [NAME]"))
    }

    @Test("a name: that example alone, without a heading")
    func oneExample() {
        let (status, output, errors) = Self.command(["gather"])
        #expect(status == 0)
        #expect(output == ["[1, 2]"])
        #expect(errors.isEmpty)
    }

    @Test("no name: every example in tutorial order, each headed by its name")
    func allExamples() throws {
        let (status, output, errors) = Self.command([])
        #expect(status == 0)
        #expect(errors.isEmpty)
        #expect(try T.maskingTimes(output) == [
            "=== send ===",
            "我拿到了5!", "我拿到了4!", "我拿到了3!", "我只要3,4,5就行啦",
            "",
            "=== yield-from ===",
            "Compute 1 + 2 ...", "Compute 3 + 4 ...", "1 + 2 = 3", "3 + 4 = 7",
            "",
            "=== hello-world ===",
            "Hello ...", "... World!",
            "",
            "=== say-after ===",
            "started at HH:MM:SS", "hello", "world", "finished at HH:MM:SS",
            "",
            "=== create-task ===",
            "started at HH:MM:SS", "hello", "world", "finished at HH:MM:SS",
            "",
            "=== gather ===",
            "[1, 2]",
            "",
            "=== lock ===",
            "A: 0 -> 1", "B: 1 -> 2", "C: 2 -> 3", "counter = 3",
        ])
    }

    @Test("an example that fails: exit status 1 and its error (run from a loop's thread, where run refuses)")
    func failingExample() throws {
        let (status, output, errors) = try run { Self.command(["hello-world"]) }
        #expect(status == 1)
        #expect(output.isEmpty)
        #expect(errors.contains("example 'hello-world' failed"))
    }
}
