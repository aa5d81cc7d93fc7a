import MultiLoop
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
        private let lock = StressMutex()
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

    /// One loop's part of one round. Made by the main thread before anyone uses it; from then on
    /// touched by that loop's thread only; its result leaves through `done`.
    final class LoopRound: @unchecked Sendable {
        struct Entry {
            var source: TimerChecker.Record.Source?
            var deadline = Double.nan
            var cancelWon = false
            var firings: [TimerChecker.Firing] = []
            var resolved: Bool { cancelWon || !firings.isEmpty }
        }

        let state: LoopState
        let context: ScenarioContext
        let producers: Int
        let pool: CancelPool
        let done: Future<Summary>
        private var entries: [Key: Entry] = [:]
        private var marks: [TimerChecker.Mark] = []
        private var producersDone = 0
        /// Registered timers neither fired nor cancelled.
        private var unresolved = 0
        private var loopSide = 0
        /// Loop-side timers this loop's own callbacks may cancel.
        private var cancellable: [(key: Key, handle: TimerHandle)] = []
        private var closed = false

        init(state: LoopState, context: ScenarioContext, producers: Int, pool: CancelPool) {
            self.state = state
            self.context = context
            self.producers = producers
            self.pool = pool
            done = Future(loop: state.loop)
        }

        private var loop: EventLoop { state.loop }
        private var iteration: Int { Int(truncatingIfNeeded: loop.statistics.iterations) }

        /// A callback producer `producer` sent as its `sequence`-th item to this loop is running.
        func mark(producer: Int, sequence: Int) {
            guard !closed else { return }
            marks.append(TimerChecker.Mark(producer: producer, sequence: sequence, iteration: iteration))
        }

        /// A seed: sets loop-side timers.
        func seed(_ planned: [Planned]) {
            for timer in planned { setLoopSide(timer, depth: 0) }
            cancelSomeLocal()
            finishIfComplete()
        }

        /// A producer cancels one of its timers from this loop's thread.
        func cancel(_ key: Key, _ handle: TimerHandle) {
            if handle.cancel() { cancelWon(key) }
            finishIfComplete()
        }

        /// A producer's last callback of the round.
        func producerDone(producer: Int, timers: [ForeignTimer], loopSideCancelled: [Key]) {
            guard !closed else { return }
            for timer in timers {
                register(Key(producer: producer, serial: timer.sequence),
                         .foreign(producer: producer, sequence: timer.sequence), deadline: timer.deadline)
                if timer.cancelWon { cancelWon(Key(producer: producer, serial: timer.sequence)) }
            }
            for key in loopSideCancelled { cancelWon(key) }
            producersDone += 1
            finishIfComplete()
        }

        /// A recorded timer's callback: first thing, the time, iteration and order.
        func fired(_ key: Key) {
            let time = loop.time()
            let firing = TimerChecker.Firing(time: time, iteration: iteration, order: state.fireOrder)
            state.fireOrder += 1
            guard !closed else {
                context.violation("fired after check", loop: state.index, producer: key.producer >= 0 ? key.producer : nil,
                                  sequence: key.serial, expected: "every firing of a round before its check",
                                  seen: "a firing at iteration \(firing.iteration), after the round was checked")
                return
            }
            var entry = entries[key, default: Entry()]
            let wasResolved = entry.resolved
            entry.firings.append(firing)
            entries[key] = entry
            if !wasResolved && entry.source != nil { unresolved -= 1 }
        }

        /// A loop-side timer's callback: may set one more, and cancel one.
        func loopSideFired(_ key: Key, depth: Int) {
            fired(key)
            guard !closed else { return }
            if depth < 2, state.random.below(4) == 0 {
                setLoopSide(.after(TimersScenario.delay(&state.random)), depth: depth + 1)
            }
            cancelSomeLocal()
            finishIfComplete()
        }

        func foreignFired(_ key: Key) {
            fired(key)
            guard !closed else { return }
            cancelSomeLocal()
            finishIfComplete()
        }

        private func setLoopSide(_ planned: Planned, depth: Int) {
            guard !closed else { return }
            let key = Key(producer: -1, serial: loopSide)
            let source = TimerChecker.Record.Source.loop(index: loopSide, iteration: iteration)
            loopSide += 1
            let handle: TimerHandle
            do {
                let callback: @Sendable () -> Void = { [self] in loopSideFired(key, depth: depth) }
                switch planned {
                case .after(let delay): handle = try loop.callLater(delay, callback)
                case .at(let when): handle = try loop.callAt(when, callback)
                }
            } catch {
                context.violation("refused", loop: state.index, sequence: key.serial,
                                  expected: "the running loop to accept a timer from its own thread", seen: "\(error)")
                return
            }
            register(key, source, deadline: handle.when)
            // About a third: cancelled later by this loop's callbacks, or by a producer.
            switch state.random.below(6) {
            case 0: cancellable.append((key, handle))
            case 1: pool.add(loop: state.index, key: key, handle: handle)
            default: break
            }
        }

        /// Now and then, cancels one of the loop-side timers kept for this loop to cancel.
        private func cancelSomeLocal() {
            guard !cancellable.isEmpty, state.random.below(2) == 0 else { return }
            let index = state.random.below(cancellable.count)
            cancellable.swapAt(index, cancellable.count - 1)
            let (key, handle) = cancellable.removeLast()
            if handle.cancel() { cancelWon(key) }
        }

        private func register(_ key: Key, _ source: TimerChecker.Record.Source, deadline: Double) {
            var entry = entries[key, default: Entry()]
            guard entry.source == nil else {
                context.violation("registered twice", loop: state.index, sequence: key.serial,
                                  expected: "one registration", seen: "two")
                return
            }
            entry.source = source
            entry.deadline = deadline
            entries[key] = entry
            if !entry.resolved { unresolved += 1 }
        }

        private func cancelWon(_ key: Key) {
            guard !closed else { return }
            var entry = entries[key, default: Entry()]
            let wasResolved = entry.resolved
            entry.cancelWon = true
            entries[key] = entry
            if !wasResolved && entry.source != nil { unresolved -= 1 }
        }

        func finishIfComplete() {
            if !closed, producersDone == producers, unresolved == 0 { finish() }
        }

        /// Checks the round and hands its summary over. `forced`: the main thread gave up waiting.
        func finish(forced: Bool = false) {
            guard !closed else { return }
            closed = true
            if forced, producersDone != producers {
                context.violation("lost", loop: state.index, expected: "\(producers) producers' last callbacks",
                                  seen: "\(producersDone) after \(TimersScenario.roundTimeout) s")
            }
            var summary = Summary()
            var records: [TimerChecker.Record] = []
            records.reserveCapacity(entries.count)
            for (key, entry) in entries {
                guard let source = entry.source else {
                    context.violation("unknown timer", loop: state.index, producer: key.producer >= 0 ? key.producer : nil,
                                      sequence: key.serial, expected: "a timer that was set",
                                      seen: "\(entry.firings.count) firing(s), cancelled: \(entry.cancelWon)")
                    continue
                }
                records.append(TimerChecker.Record(source: source, deadline: entry.deadline,
                                                   cancelWon: entry.cancelWon, firings: entry.firings))
                summary.timers += 1
                if case .loop = source { summary.loopSide += 1 }
                if entry.cancelWon { summary.cancelled += 1 }
                if let first = entry.firings.first {
                    summary.fired += 1
                    state.latency.record(nanoseconds: Int64(((first.time - entry.deadline) * 1e9).rounded()))
                }
                summary.latestDeadline = max(summary.latestDeadline, entry.deadline)
            }
            context.violations.record(TimerChecker.check(loop: state.index, timers: records, marks: marks))
            // Drop the round (the handles kept hold closures that hold it).
            entries = [:]
            marks = []
            cancellable = []
            _ = try? done.setResult(summary)
        }
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
            StressThread.runAll(producers, name: "ml-timers") { producer in
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
        let report = try group.shutdownGracefully()
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
