/// One of the asyncio tutorial's examples (`/work/shared/asyncio-tutorial.txt`), in Swift. It
/// prints exactly what the Python prints, through an output sink, with its delays scaled.
///
/// The examples are SPI (`@_spi(Examples) import MultiLoop`), not API: they exist for the
/// `multiloop examples` command and for the tests that check them against the Python.
@_spi(Examples)
public struct TutorialExample: Sendable {
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
    public let name: String
    /// The tutorial section the example comes from.
    public let section: String
    private let body: @Sendable (Environment) throws -> Void

    init(name: String, section: String, body: @escaping @Sendable (Environment) throws -> Void) {
        self.name = name
        self.section = section
        self.body = body
    }

    /// Runs the example on the calling thread (which must not be running a loop), handing each
    /// line it prints to `output`, with every delay multiplied by `timeScale` (1: the tutorial's
    /// delays). As in a fresh Python process, the example starts with no loop set for the thread
    /// (`getEventLoop()` creates one); the thread's setting is restored afterwards.
    ///
    /// - Throws: what the example throws (nothing, unless the library misbehaves);
    ///   `EventLoopError.anotherLoopRunningOnThisThread` when called from a loop's thread.
    public func run(timeScale: Double = 1, output: @escaping @Sendable (String) -> Void) throws {
        let previous = Registry.setLoop.value
        setEventLoop(nil)
        defer { setEventLoop(previous) }
        try body(Environment(print: output, timeScale: timeScale))
    }
}
