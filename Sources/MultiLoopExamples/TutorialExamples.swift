/// The asyncio tutorial's examples in tutorial order (`multiloop examples` runs them).
package enum TutorialExamples {
    /// Every example, in the order of the tutorial.
    package static let all: [TutorialExample] = [
        .send, .yieldFrom, .helloWorld, .sayAfter, .createTask, .gather, .lock,
    ]

    /// The examples' names, in tutorial order.
    package static var names: [String] { all.map(\.name) }

    /// The example called `name`, or nil.
    package static func named(_ name: String) -> TutorialExample? {
        all.first { $0.name == name }
    }
}
