import _MultiLoopEventLoop
import _MultiLoopSystem

/// Counters of a loop group: each loop's, and their total. Any thread; each loop's snapshot has
/// the caveats of `EventLoopStatistics` (not one instant).
public struct LoopGroupStatistics: Sendable, Equatable, CustomStringConvertible {
    /// One snapshot per loop, in index order.
    public var loops: [EventLoopStatistics]

    public init(loops: [EventLoopStatistics]) {
        self.loops = loops
    }

    /// The sum over the loops; `largestBatch` (the ready queue's high-water mark) is the largest
    /// of theirs.
    public var total: EventLoopStatistics {
        loops.reduce(into: EventLoopStatistics()) { $0.accumulate($1) }
    }

    public var description: String {
        (loops.enumerated().map { "loop \($0.offset): \($0.element)" } + ["total: \(total)"])
            .joined(separator: "\n")
    }
}

extension LoopGroup {
    /// A snapshot of every loop's counters. Any thread, also after shutdown (the final values).
    public var statistics: LoopGroupStatistics {
        LoopGroupStatistics(loops: loops.map(\.statistics))
    }
}
