import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Timers set from the loops' own callbacks and from producer threads, about a third of them
/// cancelled at random (from the loop and from other threads), checked exactly per loop by
/// `TimerChecker`.
///
/// The scenario runs in rounds, so that memory stays bounded however long it runs. In a round:
///
/// - each producer thread takes random steps: set a timer on a random loop (`callLater` with a
///   random delay in 0...20 ms, or a few `callAt` with one deadline, whose order must be FIFO),
///   send a loop a callback that sets timers there (loop-side timers, which may set one more
///   when they fire), cancel a timer (one of its own, or a loop-side one from a shared pool), or
///   send one of its timers to its loop to be cancelled there; and now and then sleeps a little,
///   so that cancels race with firings. At the end it sends each loop a last callback with what
///   the loop needs to know: its timers there (deadline, whether its cancel won) and the
///   loop-side timers it cancelled there;
/// - each loop records, on its own thread, everything about its timers: when they were set
///   (loop-side), every firing (time, iteration, order), every cancel that won. Every callback a
///   producer sent is also a mark of how far the loop has taken that producer's lane. Once every
///   producer's last callback has arrived and every timer has fired or been cancelled, the loop
///   checks its round (`TimerChecker`) and hands a summary to the main thread.
///
/// A round waits for its timers to be done, not for a time: the only timeout is a liveness bound
/// (`roundTimeout`), after which the round is checked as it is (what has not fired is lost).
/// At the end the scenario waits for the last deadline, lets each loop run a full iteration after
/// it, and shuts the group down: no timer may be left to cancel.
enum TimersScenario {
    /// Producer steps per round.
    static let stepsPerRound = 256
    /// Timers set per producer step, on average (measured: loop-side ones included).
    static let timersPerStep = 1.4
    static let maximumDelay = 0.020
    /// How long a round may wait for its last timers before they count as lost.
    static let roundTimeout = 30.0

    /// A timer's key in its loop's round: `producer` -1 for loop-side timers.
    struct Key: Hashable, Sendable {
        var producer: Int
        var serial: Int
    }

    /// What a producer tells a loop about one of its timers there.
    struct ForeignTimer: Sendable {
        var sequence: Int
        var deadline: Double
        var cancelWon: Bool
    }

    /// A timer a seed callback sets on the loop thread.
    enum Planned: Sendable {
        case after(Double)
        case at(Double)
    }

    /// One loop's round, as it hands it back.
    struct Summary: Sendable {
        var timers = 0
        var loopSide = 0
        var fired = 0
        var cancelled = 0
        var latestDeadline = -Double.infinity
    }

    /// A loop's state across rounds; touched by its loop's thread only.
    final class LoopState: @unchecked Sendable {
        let index: Int
        let loop: EventLoop
        let latency: LatencyRecorder
        var random: StressRandom
        /// Firings of recorded timers so far.
        var fireOrder = 0

        init(index: Int, loop: EventLoop, latency: LatencyRecorder, random: StressRandom) {
            self.index = index
            self.loop = loop
            self.latency = latency
            self.random = random
        }
    }

    /// Loop-side timers that other threads may cancel. Any thread, under its lock.
    final class CancelPool: @unchecked Sendable {
        private let lock = PThreadMutex()
        private var entries: [(loop: Int, key: Key, handle: TimerHandle)] = []

        func add(loop: Int, key: Key, handle: TimerHandle) {
            lock.withLock { entries.append((loop, key, handle)) }
        }

        func take(_ random: inout StressRandom) -> (loop: Int, key: Key, handle: TimerHandle)? {
            let pick = random.next()
            return lock.withLock {
                guard !entries.isEmpty else { return nil }
                let index = Int(pick % UInt64(entries.count))
                entries.swapAt(index, entries.count - 1)
                return entries.removeLast()
            }
        }

        /// Drops the rest (their closures hold their rounds).
        func removeAll() { lock.withLock { entries.removeAll() } }
    }

    /// A random delay: mostly uniform in 0...20 ms, sometimes 0, a few microseconds, or one of
    /// a few round values.
    static func delay(_ random: inout StressRandom) -> Double {
        switch random.below(8) {
        case 0: return 0
        case 1: return Double(random.below(200)) * 1e-6
        case 2: return [0.001, 0.005, 0.010, maximumDelay][random.below(4)]
        default: return random.unit() * maximumDelay
        }
    }

    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let configuration = context.configuration
        let group = try configuration.makeGroup(name: "timers")
        let loops = group.loops
        let producers = max(configuration.producers, 1)
        let states = loops.indices.map { index in
            LoopState(index: index, loop: loops[index], latency: context.latencies.make(),
                      random: context.random(stream: index))
        }
        var total = Summary()
        var rounds = 0
        var latestDeadline = -Double.infinity
        roundLoop: while true {
            let steps: Int
            if let count = configuration.count {
                guard total.timers < count else { break }
                // A step sets about 1.4 timers (counting the loop-side ones): aim just below the rest.
                let perProducer = Double(count - total.timers) / (timersPerStep * Double(producers))
                steps = min(stepsPerRound, max(1, Int(perProducer.rounded(.up))))
            } else {
                guard !context.timeIsUp else { break }
                steps = stepsPerRound
            }
            let pool = CancelPool()
            let loopRounds = states.map { LoopRound(state: $0, context: context, producers: producers, pool: pool) }
            let round = rounds
            PThread.runAll(producers, name: "ml-timers") { producer in
                runProducer(producer, steps: steps, rounds: loopRounds, pool: pool, context: context,
                            random: context.random(stream: loops.count + round * producers + producer))
            }
            rounds += 1
            var roundTimers = 0
            for loopRound in loopRounds {
                guard let summary = wait(for: loopRound, context: context) else {
                    pool.removeAll()
                    break roundLoop  // a loop is stuck: no more rounds
                }
                roundTimers += summary.timers
                total.timers += summary.timers
                total.loopSide += summary.loopSide
                total.fired += summary.fired
                total.cancelled += summary.cancelled
                latestDeadline = max(latestDeadline, summary.latestDeadline)
            }
            pool.removeAll()
            context.progress.addOperations(roundTimers)
        }

        // Past the last deadline (cancelled timers included), each loop runs one more full
        // iteration: its heap is empty, and no timer is left for the shutdown to cancel.
        let remaining = latestDeadline - loops[0].time()
        if remaining > 0 { usleep(UInt32(min(remaining, 1) * 1e6) + 1000) }
        for state in states {
            let loop = state.loop
            let flushed = Future<Void>(loop: loop)
            do {
                try loop.execute {
                    // Runs next iteration, after the due timers of this one.
                    do { try loop.execute { _ = try? flushed.setResult(()) } } catch { _ = try? flushed.setResult(()) }
                }
                try flushed.wait(timeout: roundTimeout)
            } catch {
                context.violation("stalled", loop: state.index, expected: "a last round trip", seen: "\(error)")
            }
        }
        let report = try group.syncShutdownGracefully()
        if report.timersCancelled != 0 {
            context.violation("not fired by shutdown", expected: "no timer left at shutdown",
                              seen: "\(report.timersCancelled) cancelled by it (\(report))")
        }
        return ScenarioOutcome(operations: UInt64(total.timers), statistics: group.statistics.total,
                               details: ["timers": total.timers, "loop-side": total.loopSide, "fired": total.fired,
                                         "cancelled": total.cancelled, "rounds": rounds])
    }

    /// Waits for a loop's round; after `roundTimeout`, has the loop check it as it is. Nil when
    /// the loop does not answer at all.
    private static func wait(for round: LoopRound, context: ScenarioContext) -> Summary? {
        do {
            return try round.done.wait(timeout: roundTimeout)
        } catch FutureWaitError.timedOut {
            do {
                try round.state.loop.execute { round.finish(forced: true) }
                return try round.done.wait(timeout: roundTimeout)
            } catch {
                context.violation("stalled", loop: round.state.index, expected: "the round to be checked",
                                  seen: "\(error)")
                return nil
            }
        } catch {
            context.violation("stalled", loop: round.state.index, expected: "the round's summary", seen: "\(error)")
            return nil
        }
    }

    /// One producer's round.
    private static func runProducer(_ producer: Int, steps: Int, rounds: [LoopRound], pool: CancelPool,
                                    context: ScenarioContext, random: StressRandom) {
        var random = random
        let loopCount = rounds.count
        /// Per loop: the next sequence number (everything sent there counts).
        var sent = [Int](repeating: 0, count: loopCount)
        var timers = [[ForeignTimer]](repeating: [], count: loopCount)
        var loopSideCancelled = [[Key]](repeating: [], count: loopCount)
        var lastDeadline = [Double?](repeating: nil, count: loopCount)
        var toCancel: [(loop: Int, entry: Int, handle: TimerHandle)] = []

        func refused(_ target: Int, _ sequence: Int, _ error: any Error) {
            context.violation("refused", loop: target, producer: producer, sequence: sequence,
                              expected: "a running loop to accept it", seen: "\(error)")
        }

        func setTimer(_ target: Int, at when: Double?) {
            let round = rounds[target]
            let sequence = sent[target]
            sent[target] += 1
            let key = Key(producer: producer, serial: sequence)
            do {
                let callback: @Sendable () -> Void = { round.foreignFired(key) }
                let handle: TimerHandle
                if let when {
                    handle = try round.state.loop.callAt(when, callback)
                } else {
                    handle = try round.state.loop.callLater(delay(&random), callback)
                }
                timers[target].append(ForeignTimer(sequence: sequence, deadline: handle.when, cancelWon: false))
                if random.below(3) == 0 { toCancel.append((target, timers[target].count - 1, handle)) }
            } catch {
                refused(target, sequence, error)
            }
        }

        func send(_ target: Int, _ body: @escaping @Sendable (LoopRound) -> Void) {
            let round = rounds[target]
            let sequence = sent[target]
            sent[target] += 1
            do {
                try round.state.loop.execute {
                    round.mark(producer: producer, sequence: sequence)
                    body(round)
                }
            } catch {
                refused(target, sequence, error)
            }
        }

        func cancelOne() {
            let index = random.below(toCancel.count)
            toCancel.swapAt(index, toCancel.count - 1)
            let (target, entry, handle) = toCancel.removeLast()
            if random.below(2) == 0 {
                if handle.cancel() { timers[target][entry].cancelWon = true }
            } else {
                let key = Key(producer: producer, serial: timers[target][entry].sequence)
                send(target) { $0.cancel(key, handle) }
            }
        }

        func cancelFromPool() {
            guard let (target, key, handle) = pool.take(&random) else { return }
            if handle.cancel() { loopSideCancelled[target].append(key) }
        }

        var step = 0
        while step < steps && !context.timeIsUp {
            step += 1
            let target = random.below(loopCount)
            switch random.below(16) {
            case 0..<9:
                setTimer(target, at: nil)
            case 9..<11:
                // Equal deadlines: FIFO.
                let when = rounds[target].state.loop.time() + delay(&random)
                for _ in 0..<(2 + random.below(3)) { setTimer(target, at: when) }
                lastDeadline[target] = when
            case 11..<14:
                var planned: [Planned] = []
                for _ in 0..<(1 + random.below(3)) {
                    if let when = lastDeadline[target], random.below(3) == 0 {
                        planned.append(.at(when))  // the same deadline as this producer's timers there
                    } else {
                        planned.append(.after(delay(&random)))
                    }
                }
                send(target) { [planned] in $0.seed(planned) }
            default:
                cancelFromPool()
            }
            if !toCancel.isEmpty, random.below(3) == 0 { cancelOne() }
            if random.below(16) == 0 { usleep(UInt32(random.below(2_000))) }
        }
        while !toCancel.isEmpty { cancelOne() }
        for _ in 0..<4 { cancelFromPool() }
        for target in 0..<loopCount {
            let (mine, cancelled) = (timers[target], loopSideCancelled[target])
            send(target) { $0.producerDone(producer: producer, timers: mine, loopSideCancelled: cancelled) }
        }
    }
}
