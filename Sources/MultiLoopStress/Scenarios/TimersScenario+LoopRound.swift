import MultiLoop

/// One loop's bookkeeping for one round of the timers scenario: what was set, cancelled and
/// fired on that loop, and the check at the round's end.
extension TimersScenario {
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
}
