import MultiLoop
import _MultiLoopSystem

/// One of the asyncio tutorial's examples (`/work/shared/asyncio-tutorial.txt`), in Swift. It
/// prints exactly what the Python prints, through an output sink, with its delays scaled.
///
/// The examples are a target of their own, in no product: `package` API for the `multiloop
/// examples` command (Sources/multiloop/ExamplesCommand.swift) and for the tests that check them
/// against the Python (Tests/MultiLoopExamplesTests).
package struct TutorialExample: Sendable {
    /// What an example prints with and waits with.
    struct Environment: Sendable {
        /// Prints one line (Python: `print(text)`).
        let print: @Sendable (String) -> Void
        /// Every delay of the example is multiplied by this.
        let timeScale: Double

        /// `seconds` of the Python, scaled.
        func delay(_ seconds: Double) -> Double { seconds * timeScale }
    }

    /// The name `multiloop examples NAME` takes.
    package let name: String
    /// The tutorial section the example comes from.
    package let section: String
    private let body: @Sendable (Environment) throws -> Void

    init(name: String, section: String, body: @escaping @Sendable (Environment) throws -> Void) {
        self.name = name
        self.section = section
        self.body = body
    }

    /// Runs the example, handing each line it prints to `output`, with every delay multiplied by
    /// `timeScale` (1: the tutorial's delays); returns when it is done.
    ///
    /// As in a fresh Python process, the example runs on a thread of its own, which no loop runs
    /// on and which has no loop set (`getEventLoop()` creates one): the calling thread's loops
    /// are left as they are, and what the example sets for its thread ends with it. The calling
    /// thread waits (blocked) for it.
    ///
    /// - Throws: what the example throws (nothing, unless the library misbehaves).
    package func run(timeScale: Double = 1, output: @escaping @Sendable (String) -> Void) throws {
        /// Written by the example's thread, read after the join (which orders the two).
        final class Outcome: @unchecked Sendable {
            var error: (any Error)?
        }
        let outcome = Outcome()
        let environment = Environment(print: output, timeScale: timeScale)
        let body = self.body
        PThread(name: "example") {
            do {
                try body(environment)
            } catch {
                outcome.error = error
            }
        }.join()
        if let error = outcome.error { throw error }
    }
}
