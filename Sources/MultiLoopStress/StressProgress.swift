#if canImport(Glibc)
import Glibc
#endif
import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

/// Counters a scenario bumps as it goes (any thread), and a thread that shows them: a live line
/// rewritten in place on a terminal, a plain line every few seconds otherwise. Written to
/// standard error, so that standard output keeps only the summary (or the JSON document).
public final class StressProgress: @unchecked Sendable {
    private let operations = StressCounter()
    private let violations = StressCounter()
    private let lock = PThreadMutex()
    private var scenario = ""
    private var started: Int64 = 0
    private let write: @Sendable (String) -> Void

    /// - Parameter write: where progress goes (nil: nowhere).
    public init(write: (@Sendable (String) -> Void)?) {
        self.write = write ?? { _ in }
    }

    func addOperations(_ count: Int) { operations.add(count) }
    func addViolations(_ count: Int) { violations.add(count) }

    /// Starts showing `name`'s counts (from zero).
    func begin(_ name: String) {
        let (operationsNow, violationsNow) = (operations.value, violations.value)
        lock.withLock {
            scenario = name
            started = monotonicNanoseconds()
            baseOperations = operationsNow
            baseViolations = violationsNow
        }
    }
    // Guarded by `lock`.
    private var baseOperations = 0
    private var baseViolations = 0

    /// The current line: scenario, operations, rate, elapsed, violations.
    func line() -> String {
        let (name, start, operationBase, violationBase) = lock.withLock {
            (scenario, started, baseOperations, baseViolations)
        }
        let elapsed = Double(monotonicNanoseconds() - start) / 1e9
        let done = operations.value - operationBase
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        return "\(name): \(formatCount(Double(done))) ops, \(formatCount(rate))/s, "
            + "\(String(format1: elapsed)) s, \(violations.value - violationBase) violations"
    }

    /// Shows progress every `interval` seconds until `stop` is set; joins nothing itself.
    func startReporter(terminal: Bool) -> (stop: StressFlag, thread: PThread) {
        let stop = StressFlag()
        let interval: Double = terminal ? 0.25 : 5
        let thread = PThread(name: "ml-progress") { [self] in
            var last = monotonicNanoseconds()
            while !stop.isSet {
                usleep(50_000)
                let now = monotonicNanoseconds()
                guard Double(now - last) / 1e9 >= interval else { continue }
                last = now
                write(terminal ? "\r\u{1B}[K" + line() : line() + "\n")
            }
            if terminal { write("\r\u{1B}[K") }
        }
        return (stop, thread)
    }
}

/// 1234567 -> "1.23M".
func formatCount(_ value: Double) -> String {
    switch value {
    case 1e9...: return String(format2: value / 1e9) + "G"
    case 1e6...: return String(format2: value / 1e6) + "M"
    case 1e3...: return String(format2: value / 1e3) + "k"
    default: return String(Int(value))
    }
}

/// Nanoseconds as "850 ns", "12.3 µs", "4.56 ms", "1.20 s".
func formatNanoseconds(_ value: UInt64) -> String {
    let v = Double(value)
    switch v {
    case 1e9...: return String(format2: v / 1e9) + " s"
    case 1e6...: return String(format2: v / 1e6) + " ms"
    case 1e3...: return String(format1: v / 1e3) + " µs"
    default: return "\(value) ns"
    }
}

extension String {
    /// Fixed one decimal, without Foundation.
    init(format1 value: Double) {
        let tenths = Int((value * 10).rounded())
        self = "\(tenths / 10).\(abs(tenths % 10))"
    }

    /// Fixed two decimals, without Foundation.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = abs(hundredths % 100)
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
