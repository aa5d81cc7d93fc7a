import ArgumentParser
import MultiLoopExamples

/// `multiloop examples [NAME]`: the asyncio tutorial's examples in Swift (Sources/MultiLoopExamples),
/// each printing what its Python prints.
struct ExamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "examples",
        abstract: "Runs the Swift port of the asyncio tutorial's examples (all, or the one named).",
        discussion: """
            Each example prints what its Python prints. Without a name, all of them in tutorial order, each \
            headed by its name; with one, that one alone. The examples and the tutorial's sections:
            \(sections)

            Exit status: 0; 1 if an example failed (its error on standard error); 2 on bad usage (an unknown \
            name, more than one).
            """)

    /// One line per example: its name, then its tutorial section, in columns.
    private static var sections: String {
        let width = (TutorialExamples.names.map(\.count).max() ?? 0) + 2
        return TutorialExamples.all.map { example in
            "  " + example.name + String(repeating: " ", count: width - example.name.count) + example.section
        }.joined(separator: "\n")
    }

    @Argument(help: "An example's name; none runs them all.")
    var name: String?

    func validate() throws {
        if let name, TutorialExamples.named(name) == nil {
            throw ValidationError("unknown example '\(name)'; the examples are: "
                                  + TutorialExamples.names.joined(separator: ", "))
        }
    }

    func run() throws {
        let selected = name.flatMap(TutorialExamples.named).map { [$0] } ?? TutorialExamples.all
        for (index, example) in selected.enumerated() {
            if selected.count > 1 {
                if index > 0 { print("") }
                print("=== \(example.name) ===")
            }
            do {
                try example.run { print($0) }
            } catch {
                writeToStandardError("multiloop: example '\(example.name)' failed: \(error)")
                throw ExitCode(1)
            }
        }
    }
}
