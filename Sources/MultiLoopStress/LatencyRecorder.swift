import Histogram
import MultiLoop
import _MultiLoopSystem

/// One thread's latency histogram (HdrHistogram, 3 significant digits, 1 ns to 60 s). Each
/// thread that measures gets its own, touched by that thread only; `LatencyRecorders.merged()`
/// adds them up once the threads are done (joined, or their loops shut down).
final class LatencyRecorder: @unchecked Sendable {
    static let highest: UInt64 = 60_000_000_000
    private(set) var histogram = Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: highest,
                                                   numberOfSignificantValueDigits: .three)

    /// Records one latency in nanoseconds (clamped to the histogram's range).
    func record(nanoseconds: Int64) {
        _ = histogram.record(UInt64(min(max(nanoseconds, 1), Int64(Self.highest))))
    }
}

/// The recorders of one scenario run.
final class LatencyRecorders: @unchecked Sendable {
    private let lock = PThreadMutex()
    private var recorders: [LatencyRecorder] = []

    /// A new recorder for one thread.
    func make() -> LatencyRecorder {
        let recorder = LatencyRecorder()
        lock.withLock { recorders.append(recorder) }
        return recorder
    }

    /// All recorders added up. Only once every thread that records has finished.
    func merged() -> Histogram<UInt64>? {
        lock.withLock {
            guard var total = recorders.first?.histogram else { return nil }
            for recorder in recorders.dropFirst() { total.add(recorder.histogram) }
            return total.totalCount > 0 ? total : nil
        }
    }
}

/// Latency percentiles in nanoseconds.
public struct LatencySummary: Sendable, Codable, Equatable {
    public var count: UInt64
    public var p50: UInt64
    public var p90: UInt64
    public var p99: UInt64
    public var p999: UInt64
    public var max: UInt64

    init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
    }
}
