/// Checks one loop's timers of the timers scenario, from plain records, exactly:
///
/// - a timer no `cancel()` won fires exactly once ("lost", "fired twice");
/// - a timer whose `cancel()` returned true never fires ("fired after cancel");
/// - none fires before its deadline: its firing time, `loop.time()` read in its callback, is at
///   least its deadline (`TimerHandle.when`) ("early");
/// - the loop releases its timers in (deadline, arrival) order ("out of order"), which can only be
///   checked for pairs whose arrival in the heap is known.
///
/// **What order means.** In each iteration the loop first takes its lanes (timers from other
/// threads go into its heap then), then moves every due timer of the heap to the ready queue in
/// (deadline, arrival sequence) order, then runs the ready queue. A timer set on the loop thread
/// goes straight into the heap. So if timer Y is in the heap when the iteration that fires timer X
/// looks at it, and Y comes first (earlier deadline, or the same deadline and an earlier arrival),
/// then Y is due whenever X is and must fire before X (or not at all: cancelled). When Y was in
/// the heap by, for each timer:
///
/// - set on the loop thread during iteration `a` (a callback of iteration `a` runs in its step 5):
///   from iteration `a + 1` on;
/// - sent by producer thread `p`: the loop takes a lane oldest first, so Y is in the heap by the
///   first iteration in which anything `p` sent to this loop after Y (or Y itself) is known to
///   have been taken: a callback that ran then (a `Mark`), or a timer that fired then. Otherwise
///   nothing is known, and Y is compared with nothing.
///
/// Arrival order among equal deadlines is known: between two timers set on the loop thread (the
/// order they were set in), between two timers from the same producer (its lane is FIFO), and
/// for a timer from a producer known to be in the heap by iteration `h` against one set on the
/// loop thread during iteration `a >= h` (the lane is taken before the callbacks run). Pairs
/// whose arrival order is unknown (two producers, or a loop-side timer before a producer's) are
/// never compared.
///
/// Pure: the tests feed it corrupted records. O(n log n) in the number of timers (plus the pairs
/// within each group of equal deadlines).
enum TimerChecker {
    /// One timer as its loop saw it.
    struct Record: Sendable, Equatable {
        enum Source: Sendable, Hashable {
            /// Set on the loop thread during iteration `iteration` (the loop's completed
            /// iterations, read in the callback that set it); the `index`-th timer set on the
            /// loop thread (in the order they were set).
            case loop(index: Int, iteration: Int)
            /// Sent by producer thread `producer`; `sequence` numbers everything that producer
            /// sent to this loop (timers and callbacks), in the order it sent them.
            case foreign(producer: Int, sequence: Int)
        }

        var source: Source
        /// `TimerHandle.when`.
        var deadline: Double
        /// Whether a `cancel()` of it returned true.
        var cancelWon: Bool = false
        /// Every time its callback ran, in the order it ran.
        var firings: [Firing] = []
    }

    /// One run of a timer's callback, as the callback saw it.
    struct Firing: Sendable, Equatable {
        /// `loop.time()`.
        var time: Double
        /// The loop's completed iterations (`loop.statistics.iterations` on the loop thread):
        /// the number of the iteration that ran it.
        var iteration: Int
        /// Its place among the firings of every recorded timer of the loop.
        var order: Int
    }

    /// A callback producer `producer` sent to the loop (its `sequence`-th item there) that ran
    /// during iteration `iteration`: everything the producer sent before it had been taken into
    /// the loop by then.
    struct Mark: Sendable, Equatable {
        var producer: Int
        var sequence: Int
        var iteration: Int
    }

    static func check(loop: Int, timers: [Record], marks: [Mark] = []) -> [StressViolation] {
        var found: [StressViolation] = []
        for timer in timers {
            found += checkAlone(loop: loop, timer)
        }
        found += checkOrder(loop: loop, timers: timers, marks: marks)
        return found
    }

    // MARK: - Each timer on its own

    private static func checkAlone(loop: Int, _ timer: Record) -> [StressViolation] {
        var found: [StressViolation] = []
        func report(_ kind: String, expected: String, seen: String) {
            found.append(violation(kind, loop: loop, timer.source, expected: expected, seen: seen))
        }
        if timer.cancelWon {
            if !timer.firings.isEmpty {
                report("fired after cancel", expected: "no firing (a cancel() returned true)",
                       seen: "\(timer.firings.count) firing(s), the first at iteration \(timer.firings[0].iteration)")
            }
        } else if timer.firings.isEmpty {
            report("lost", expected: "one firing (deadline \(timer.deadline), no cancel() won)", seen: "none")
        }
        if timer.firings.count > 1 {
            report("fired twice", expected: "one firing",
                   seen: "\(timer.firings.count), at iterations \(timer.firings.map(\.iteration))")
        }
        if let early = timer.firings.first(where: { !($0.time >= timer.deadline) }) {
            report("early", expected: "to fire at or after its deadline \(timer.deadline)",
                   seen: "fired at \(early.time) (\(describe(seconds: timer.deadline - early.time)) early)")
        }
        return found
    }

    // MARK: - Order

    /// A fired timer, for the order checks.
    private struct Fired {
        var record: Int
        var deadline: Double
        /// Its first firing.
        var iteration: Int
        var order: Int
        /// The first iteration whose due-timer step is known to have found it in the heap (or
        /// already fired); `Int.max` when unknown.
        var inHeapBy: Int
    }

    private static func checkOrder(loop: Int, timers: [Record], marks: [Mark]) -> [StressViolation] {
        let known = KnownArrival(timers: timers, marks: marks)
        var fired: [Fired] = []
        for (index, timer) in timers.enumerated() {
            guard let first = timer.firings.first else { continue }
            fired.append(Fired(record: index, deadline: timer.deadline, iteration: first.iteration,
                               order: first.order, inHeapBy: known.inHeapBy(timer.source)))
        }
        guard fired.count > 1 else { return [] }
        var found: [StressViolation] = []
        func report(first: Fired, then: Fired, why: String) {
            let x = timers[then.record], y = timers[first.record]
            found.append(violation(
                "out of order", loop: loop, x.source,
                expected: "\(describe(y.source)) (deadline \(y.deadline), \(why), in the heap by iteration "
                    + "\(first.inHeapBy)) to fire before it (deadline \(x.deadline))",
                seen: "it fired first: iteration \(then.iteration), order \(then.order); the other at iteration "
                    + "\(first.iteration), order \(first.order)"))
        }

        // Strictly earlier deadlines. For each X, in the order of the iteration that fired it, the
        // timers known to be in the heap by then (Y) are added to a tree over the firing order;
        // the smallest deadline among those that fired after X must not be below X's.
        let byOrder = fired.indices.sorted { fired[$0].order < fired[$1].order }
        var rank = [Int](repeating: 0, count: fired.count)
        for (position, index) in byOrder.enumerated() { rank[index] = position }
        let candidates = fired.indices.filter { fired[$0].inHeapBy != Int.max }
            .sorted { fired[$0].inHeapBy < fired[$1].inHeapBy }
        let checked = fired.indices.sorted { fired[$0].iteration < fired[$1].iteration }
        // Indexed by reversed rank, so that "fired after X" is a prefix.
        var tree = MinimumTree(count: fired.count)
        var next = 0
        for x in checked {
            while next < candidates.count, fired[candidates[next]].inHeapBy <= fired[x].iteration {
                let y = candidates[next]
                tree.lower(at: fired.count - 1 - rank[y], to: fired[y].deadline, from: y)
                next += 1
            }
            if let (deadline, y) = tree.minimum(ofFirst: fired.count - 1 - rank[x]), deadline < fired[x].deadline {
                report(first: fired[y], then: fired[x], why: "an earlier deadline")
            }
        }

        // Equal deadlines: FIFO, where the arrival order is known.
        var groups: [Double: [Int]] = [:]
        for index in fired.indices { groups[fired[index].deadline, default: []].append(index) }
        for (_, group) in groups where group.count > 1 {
            for x in group {
                for y in group where y != x && fired[y].order > fired[x].order {
                    guard fired[y].inHeapBy <= fired[x].iteration,
                          known.arrivedFirst(timers[fired[y].record].source, before: timers[fired[x].record].source)
                    else { continue }
                    report(first: fired[y], then: fired[x], why: "the same deadline and an earlier arrival")
                }
            }
        }
        return found
    }

    /// What the records tell about when each timer reached the heap.
    private struct KnownArrival {
        /// Per producer: (sequence, iteration by which it had been taken), by sequence, with the
        /// minimum iteration over that entry and every later one.
        private var evidence: [Int: [(sequence: Int, iteration: Int)]] = [:]

        init(timers: [Record], marks: [Mark]) {
            for mark in marks {
                evidence[mark.producer, default: []].append((mark.sequence, mark.iteration))
            }
            for timer in timers {
                if case .foreign(let producer, let sequence) = timer.source, let first = timer.firings.first {
                    evidence[producer, default: []].append((sequence, first.iteration))
                }
            }
            for producer in evidence.keys {
                var entries = evidence[producer]!.sorted { $0.sequence < $1.sequence }
                var minimum = Int.max
                for index in entries.indices.reversed() {
                    minimum = min(minimum, entries[index].iteration)
                    entries[index].iteration = minimum
                }
                evidence[producer] = entries
            }
        }

        /// The first iteration by which the timer is known to have been in the heap (or fired).
        func inHeapBy(_ source: Record.Source) -> Int {
            switch source {
            case .loop(_, let iteration):
                return iteration + 1
            case .foreign(let producer, let sequence):
                guard let entries = evidence[producer] else { return Int.max }
                // The first entry at or after `sequence`.
                var low = 0, high = entries.count
                while low < high {
                    let middle = (low + high) / 2
                    if entries[middle].sequence < sequence { low = middle + 1 } else { high = middle }
                }
                return low < entries.count ? entries[low].iteration : Int.max
            }
        }

        /// Whether `first` is known to have entered the heap before `second`.
        func arrivedFirst(_ first: Record.Source, before second: Record.Source) -> Bool {
            switch (first, second) {
            case (.loop(let a, _), .loop(let b, _)):
                return a < b
            case (.foreign(let p, let a), .foreign(let q, let b)):
                return p == q && a < b
            case (.foreign, .loop(_, let iteration)):
                // Taken from its lane by (step 3 of) that iteration; the other was set in a
                // callback of `iteration`, after the lanes were taken.
                return inHeapBy(first) <= iteration
            case (.loop, .foreign):
                return false
            }
        }
    }

    /// A Fenwick tree of prefix minima: `(value, who)`.
    private struct MinimumTree {
        private var values: [Double]
        private var owners: [Int]

        init(count: Int) {
            values = Array(repeating: .infinity, count: count + 1)
            owners = Array(repeating: -1, count: count + 1)
        }

        mutating func lower(at index: Int, to value: Double, from owner: Int) {
            var position = index + 1
            while position < values.count {
                if value < values[position] {
                    values[position] = value
                    owners[position] = owner
                }
                position += position & -position
            }
        }

        /// The minimum over indices `0..<count`, if any was set.
        func minimum(ofFirst count: Int) -> (Double, Int)? {
            var best: (Double, Int)? = nil
            var position = count
            while position > 0 {
                if owners[position] >= 0, best == nil || values[position] < best!.0 {
                    best = (values[position], owners[position])
                }
                position -= position & -position
            }
            return best
        }
    }

    // MARK: - Helpers

    private static func violation(_ kind: String, loop: Int, _ source: Record.Source, expected: String,
                                  seen: String) -> StressViolation {
        let (producer, sequence): (Int?, Int) = switch source {
        case .loop(let index, _): (nil, index)
        case .foreign(let producer, let sequence): (producer, sequence)
        }
        return StressViolation(scenario: StressScenario.timers.rawValue, kind: kind, loop: loop,
                               producer: producer, sequence: sequence, expected: expected, seen: seen)
    }

    private static func describe(_ source: Record.Source) -> String {
        switch source {
        case .loop(let index, let iteration): "loop-side timer \(index) (set in iteration \(iteration))"
        case .foreign(let producer, let sequence): "producer \(producer)'s item \(sequence)"
        }
    }

    private static func describe(seconds: Double) -> String {
        formatNanoseconds(UInt64(max(0, (seconds * 1e9).rounded(.up))))
    }
}
