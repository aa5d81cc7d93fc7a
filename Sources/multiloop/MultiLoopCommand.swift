#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import MultiLoop

/// `multiloop`: the root command.
struct MultiLoopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiloop",
        abstract: "MultiLoop's tools: a stress test, a demo, and the asyncio tutorial's examples.",
        subcommands: [StressCommand.self, DemoCommand.self, ExamplesCommand.self],
        defaultSubcommand: DemoCommand.self)

    /// The usage line of the subcommand an error is about.
    static func usageString(for error: any Error) -> String {
        // `fullMessage` ends with the usage; keep only that part for a short error output.
        let full = fullMessage(for: error)
        guard let range = full.range(of: "Usage:") else { return "" }
        return String(full[range.lowerBound...])
    }
}

/// `multiloop demo [PRODUCERS]`.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "PRODUCERS threads hand 1,000,000 numbered callbacks in all to one event loop.",
        discussion: "Checks that each runs exactly once, in order per producer, and prints the loop's statistics.")

    @Argument(help: "Producer threads, 1 to 64.")
    var producers: Int = 4

    func validate() throws {
        guard (1...64).contains(producers) else {
            throw ValidationError("demo takes the number of producer threads, 1 to 64 (got \(producers))")
        }
    }

    func run() throws {
        let status = Demo.run(producers: producers, callbacksPerProducer: 1_000_000 / producers)
        if status != 0 { throw ExitCode(status) }
    }
}
