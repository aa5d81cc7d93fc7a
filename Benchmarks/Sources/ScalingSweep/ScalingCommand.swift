// `multiloop-scaling`: the thread-scaling sweep (docs/benchmarks.md, "Thread scaling").

import ArgumentParser
import CBenchSystem

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

struct ScalingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "multiloop-scaling",
        abstract: "Thread-scaling sweep: MultiLoop against SwiftNIO, Dispatch, Swift's global executor and plain baselines.",
        discussion: """
            Workloads (ops per run at --scale 1):
              fan-in      T producer threads hand 2M callbacks to one loop (execute / async / post)
              fan-out     one producer hands 2M callbacks round-robin to T loops
              all-to-all  T loops each send ~2M/T callbacks round-robin to every other loop
              ring        a token hops around T >= 2 loops, 50k hops; one-hop latency p50/p99
              futures     each of T loops asks the next for a value and awaits the answer, 100k round trips
              tasks       200k tasks over T loops, each created and awaited before the next
              gather      200k tasks over T loops, created a thousand at a time and awaited together
              switch      1M task switches over T loops (sleep(0) / Task.yield()), one task per loop
              timers      1M timers over T loops: schedule, cancel every second one, fire the rest
            Peers:
              multiloop          LoopGroup, EventLoop.execute / callLater / submit + addDoneCallback(on:) / createTask /
                                 gather / sleep(0)
              multiloop-handle   callSoonThreadsafe, which returns a cancellable Handle (fan-in only)
              multiloop-await    futures awaited by a task instead of chained done callbacks (futures only)
              multiloop-nospin   the same with spinBeforeSleep 0 (ring only)
              multiloop-batched  executeBatch: a loop's sends to one target in a step published together
                                 (all-to-all only)
              nio                SwiftNIO MultiThreadedEventLoopGroup: execute / scheduleTask / submit + hop / tasks and
                                 Task.yield() on an actor whose executor is the loop (timers: a tenth of the count, its
                                 cancel is O(n))
              dispatch           a serial DispatchQueue per loop: async / asyncAfter
              global-executor    a task per loop draining a mailbox, woken by a continuation; Task {} and Task.sleep
              baseline           a thread per loop: pthread mutex + array + one eventfd write per call
              eventfd-floor      threads blocked in read() on an eventfd each (ring only): the machine's floor
              floor              a minimal task executor per loop, a thread running jobs from a local array
                                 (tasks, gather, switch only): the Swift runtime's floor
            Every run counts what was delivered, exactly; a wrong count or a stall ends the sweep
            with exit status 1. Each point is the median of --repeats runs (by throughput).
            CSV columns: \(ScalingPoint.csvHeader)
            """)

    @Option(name: .long, help: "Comma-separated workloads (default: all).")
    var workloads: String?

    @Option(name: .long, help: "Comma-separated peers (default: all).")
    var peers: String?

    @Option(name: .long, help: "Comma-separated thread counts (default: 1, 2, 4, ... up to twice the usable CPUs).")
    var threads: String?

    @Option(name: .long, help: "Runs per point; the median is reported.")
    var repeats: Int = 3

    @Option(name: .long, help: "Multiplies every workload's operation count (e.g. 0.1 for a quick look).")
    var scale: Double = 1

    @Option(name: .long, help: "Seconds a run may go without finishing before it counts as stalled.")
    var stallTimeout: Double = 120

    @Option(name: .long, help: "Write the CSV here (default: standard output).")
    var csv: String?

    @Flag(name: .long, help: "No progress lines on standard error.")
    var quiet = false

    mutating func validate() throws {
        guard repeats >= 1 else { throw ValidationError("--repeats must be at least 1, not \(repeats)") }
        guard scale > 0, scale.isFinite else { throw ValidationError("--scale must be positive, not \(scale)") }
        guard stallTimeout > 0 else { throw ValidationError("--stall-timeout must be positive") }
        _ = try parsedWorkloads()
        _ = try parsedPeers()
        _ = try parsedThreads()
    }

    func parsedWorkloads() throws -> [Workload] {
        try names(workloads, of: "workload")
    }

    func parsedPeers() throws -> [Peer] {
        try names(peers, of: "peer")
    }

    /// The named cases of a comma-separated list, or every case when the option is absent.
    private func names<Name: CaseIterable & RawRepresentable<String>>(_ text: String?, of kind: String) throws -> [Name] {
        guard let text else { return Array(Name.allCases) }
        return try list(text).map { name in
            guard let value = Name(rawValue: name) else {
                let known = Name.allCases.map(\.rawValue).joined(separator: ", ")
                throw ValidationError("unknown \(kind) '\(name)'; known: \(known)")
            }
            return value
        }
    }

    func parsedThreads() throws -> [Int] {
        guard let threads else {
            let limit = 2 * Int(bench_usable_cpus())
            return Array(sequence(first: 1) { $0 * 2 <= limit ? $0 * 2 : nil }) + (limit.nonzeroBitCount == 1 ? [] : [limit])
        }
        return try list(threads).map { text in
            guard let count = Int(text), count >= 1, count <= 1024 else {
                throw ValidationError("thread counts are integers from 1 to 1024, not '\(text)'")
            }
            return count
        }
    }

    private func list(_ text: String) throws -> [String] {
        let items = text.split(separator: ",").map { $0.trimmingCharacters(in: " ") }.filter { !$0.isEmpty }
        guard !items.isEmpty else { throw ValidationError("an empty list: '\(text)'") }
        return items
    }

    func run() throws {
        let plan = SweepPlan(workloads: try parsedWorkloads(), peers: try parsedPeers(), threadCounts: try parsedThreads(),
                             repeats: repeats, scale: scale, stallTimeout: stallTimeout, cores: Int(bench_usable_cpus()))
        let output = try CSVOutput(path: csv)
        output.write(ScalingPoint.csvHeader)
        if !quiet {
            printError("multiloop-scaling: \(plan.cores) usable CPUs; threads \(plan.threadCounts.map(String.init).joined(separator: ",")); "
                + "\(plan.repeats) runs per point, scale \(plan.scale)")
        }
        do {
            try Sweep(plan: plan).run { point in
                output.write(point.csvRow)
                if !quiet { printError(point.summary) }
            }
        } catch {
            printError("multiloop-scaling: \(error)")
            throw ExitCode.failure
        }
    }
}

/// Where the rows go: a file (written line by line, so a failed sweep keeps what it measured)
/// or standard output.
final class CSVOutput {
    private let file: UnsafeMutablePointer<FILE>
    private let owned: Bool

    init(path: String?) throws {
        guard let path else {
            guard let file = fdopen(STDOUT_FILENO, "w") else { throw ValidationError("cannot write standard output") }
            self.file = file
            owned = false
            return
        }
        guard let file = fopen(path, "w") else {
            throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
        self.file = file
        owned = true
    }

    deinit {
        if owned { fclose(file) } else { fflush(file) }
    }

    func write(_ line: String) {
        fputs(line + "\n", file)
        fflush(file)
    }
}

/// One line to standard error, unbuffered.
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(STDERR_FILENO, bytes.baseAddress, bytes.count) }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var text = self
        while let first = text.first, set.contains(first) { text.removeFirst() }
        while let last = text.last, set.contains(last) { text.removeLast() }
        return String(text)
    }
}
