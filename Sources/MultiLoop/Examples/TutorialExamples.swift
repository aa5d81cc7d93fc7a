/// The asyncio tutorial's examples in tutorial order, and the `multiloop examples` command.
@_spi(Examples)
public enum TutorialExamples {
    /// Every example, in the order of the tutorial.
    public static let all: [TutorialExample] = [
        .send, .yieldFrom, .helloWorld, .sayAfter, .createTask, .gather, .lock,
    ]

    /// The examples' names, in tutorial order.
    public static var names: [String] { all.map(\.name) }

    /// The example called `name`, or nil.
    public static func named(_ name: String) -> TutorialExample? {
        all.first { $0.name == name }
    }

    /// The command's usage text.
    public static var usage: String {
        let width = (all.map(\.name.count).max() ?? 0) + 2
        let list = all.map { example in
            "              " + example.name + String(repeating: " ", count: width - example.name.count) + example.section
        }
        return """
            usage: multiloop examples [NAME]
              examples  the asyncio tutorial's examples in Swift, each printing what its Python
                        prints: all of them in tutorial order, each headed by its name, or the one
                        called NAME:
            \(list.joined(separator: "\n"))
            """
    }

    /// `multiloop examples [NAME]`, given the arguments after `examples`; returns the exit
    /// status: 0; 2 for bad arguments (an unknown name, more than one), after a message and the
    /// usage on `errorOutput`; 1 if an example failed (its error on `errorOutput`).
    ///
    /// Runs on the calling thread, which must not be running a loop; `timeScale` multiplies
    /// every delay (the command uses 1).
    public static func command(arguments: [String], timeScale: Double = 1,
                               output: @escaping @Sendable (String) -> Void,
                               errorOutput: (String) -> Void) -> Int32 {
        let selected: [TutorialExample]
        switch arguments.count {
        case 0:
            selected = all
        case 1:
            guard let example = named(arguments[0]) else {
                errorOutput("multiloop: unknown example '\(arguments[0])'; the examples are: "
                            + names.joined(separator: ", ") + "\n" + usage)
                return 2
            }
            selected = [example]
        default:
            errorOutput("multiloop: examples takes at most one argument, the name of an example\n" + usage)
            return 2
        }
        for (index, example) in selected.enumerated() {
            if selected.count > 1 {
                if index > 0 { output("") }
                output("=== \(example.name) ===")
            }
            do {
                try example.run(timeScale: timeScale, output: output)
            } catch {
                errorOutput("multiloop: example '\(example.name)' failed: \(error)")
                return 1
            }
        }
        return 0
    }
}
