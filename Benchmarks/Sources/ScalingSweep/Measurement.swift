// What one run of a workload measured, and the CSV row of a point (the median of its runs).
// The CSV schema is documented in docs/benchmarks.md ("Thread scaling") and shared with
// Benchmarks/python/asyncio_scaling.py and Benchmarks/python/report.py.

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// Monotonic nanoseconds (CLOCK_MONOTONIC, the clock every peer's timers also use).
@inline(__always)
func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

/// One run: how many operations completed in how long, and per-operation latencies when the
/// workload has them (ring hops).
struct RunResult {
    var ops: Int
    var seconds: Double
    /// One-hop latencies in nanoseconds, warm-up already dropped; nil for throughput workloads.
    var latenciesNs: [UInt64]?

    var opsPerSecond: Double { Double(ops) / seconds }

    /// The `p`-th percentile (0...100) in microseconds, nearest rank.
    func percentileMicros(_ p: Double) -> Double? {
        guard let latenciesNs, !latenciesNs.isEmpty else { return nil }
        let sorted = latenciesNs.sorted()
        let rank = min(sorted.count - 1, max(0, Int((p / 100 * Double(sorted.count)).rounded(.up)) - 1))
        return Double(sorted[rank]) / 1000
    }
}

/// A row of the CSV: the median run (by throughput) of `repeats` runs of one point.
struct ScalingPoint {
    static let csvHeader = "workload,peer,threads,ops,seconds,ops_per_sec,p50_us,p99_us,repeats,cores"

    var workload: Workload
    var peer: Peer
    var threads: Int
    var median: RunResult
    var repeats: Int
    var cores: Int

    init(workload: Workload, peer: Peer, threads: Int, runs: [RunResult], cores: Int) {
        precondition(!runs.isEmpty)
        self.workload = workload
        self.peer = peer
        self.threads = threads
        self.median = runs.sorted { $0.opsPerSecond < $1.opsPerSecond }[runs.count / 2]
        self.repeats = runs.count
        self.cores = cores
    }

    var csvRow: String {
        let p50 = median.percentileMicros(50).map { format($0, digits: 2) } ?? ""
        let p99 = median.percentileMicros(99).map { format($0, digits: 2) } ?? ""
        return [workload.rawValue, peer.rawValue, "\(threads)", "\(median.ops)", format(median.seconds, digits: 6),
                format(median.opsPerSecond, digits: 1), p50, p99, "\(repeats)", "\(cores)"].joined(separator: ",")
    }

    /// The progress line: throughput, and latencies when there are some.
    var summary: String {
        var line = "\(workload.rawValue.padded(10)) \(peer.rawValue.padded(16)) threads=\(String(threads).padded(3)) "
            + "\(humanRate(median.opsPerSecond).padded(10))"
        if let p50 = median.percentileMicros(50), let p99 = median.percentileMicros(99) {
            line += "  p50 \(format(p50, digits: 1)) µs  p99 \(format(p99, digits: 1)) µs"
        }
        return line
    }
}

/// `value` with exactly `digits` decimals (no Foundation, so the static build stays small).
func format(_ value: Double, digits: Int) -> String {
    guard value.isFinite else { return "\(value)" }
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int(scaled / scale)
    guard digits > 0 else { return "\(whole)" }
    let fraction = Int(abs(scaled - Double(whole) * scale).rounded())
    let fractionText = String(fraction)
    let sign = value < 0 && whole == 0 ? "-" : ""
    return "\(sign)\(whole)." + String(repeating: "0", count: digits - fractionText.count) + fractionText
}

/// 12.3M/s, 845k/s, 950/s.
func humanRate(_ perSecond: Double) -> String {
    if perSecond >= 1e6 { return format(perSecond / 1e6, digits: 2) + "M/s" }
    if perSecond >= 1e3 { return format(perSecond / 1e3, digits: 1) + "k/s" }
    return format(perSecond, digits: 0) + "/s"
}

extension String {
    func padded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
