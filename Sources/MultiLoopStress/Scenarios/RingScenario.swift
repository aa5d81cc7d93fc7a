import MultiLoop
import MultiLoopTestSupport

/// Tokens travel around the loops of a group. A token is a task of loop `j`; for each hop it
/// awaits a future that loop `j+1` completes (`group.submit(to: j+1)`: the closure runs there,
/// logs its arrival and says where it ran), measures the round trip, then continues as a new task
/// of loop `j+1`, which sends the next hop. Every hop is checked from both sides by `RingChecker`.
///
/// The run goes in rounds of at most `hopsPerRound` hops per token: at the end of a round every
/// token has stopped, the round's logs are checked and dropped, and the tokens go on from where
/// they stopped. So memory stays flat however long the run.
enum RingScenario {
    /// Tokens per loop: several, so that the loops have more than one thing to do at a time.
    static let tokensPerLoop = 4
    /// Hops per token per round.
    static let hopsPerRound = 5_000

    /// Per loop, touched by that loop's thread only (read after the shutdown joined it).
    final class LoopState: @unchecked Sendable {
        var arrivals: [RingChecker.Arrival] = []
        let latency: LatencyRecorder

        init(latency: LatencyRecorder) { self.latency = latency }
    }

    /// One token: touched by the thread of the loop it is on, handed from loop to loop with the
    /// tasks that carry it (the loops' inboxes order the hand-over).
    final class Token: @unchecked Sendable {
        let index: Int
        let start: Int
        /// Its hops in count mode; nil in duration mode.
        let share: Int?
        var sent = 0
        /// Where this round ends (`sent` stops there); set between rounds.
        var limit = 0
        /// This round's hops.
        var hops: [RingChecker.Hop] = []
        /// Completed (by whichever loop the token stops on) once it stops; one per round.
        var done: Future<Void>

        init(index: Int, start: Int, share: Int?, done: Future<Void>) {
            self.index = index
            self.start = start
            self.share = share
            self.done = done
        }

        /// The loop the token is on between hops.
        func position(loops: Int) -> Int { (start + sent) % loops }

        /// Whether it has hops left to make (count mode; duration mode asks the clock).
        var hasMore: Bool { share.map { sent < $0 } ?? true }
    }

    /// What every token's task needs.
    struct Ring: Sendable {
        let group: LoopGroup
        let states: [LoopState]
        let context: ScenarioContext
        let hopsDone: StressCounter
    }

    static func run(_ context: ScenarioContext) throws -> ScenarioOutcome {
        let group = try context.configuration.makeGroup(name: "ring")
        let loops = group.count
        let states = (0..<loops).map { _ in LoopState(latency: context.latencies.make()) }
        let ring = Ring(group: group, states: states, context: context, hopsDone: StressCounter())
        let tokenCount = loops * tokensPerLoop
        let tokens = (0..<tokenCount).map { index in
            Token(index: index, start: index % loops, share: context.share(of: tokenCount, index: index),
                  done: Future<Void>(loop: group.loops[index % loops]))
        }
        var rounds = 0
        var finished = tokenCount
        var roundStart = [Int](repeating: 0, count: tokenCount)
        repeat {
            // Between rounds every token has stopped (its `done` future is complete), and what
            // the loops wrote reached this thread through those completions; the next round's
            // tasks hand these writes back to the loops through their lanes.
            for token in tokens {
                token.limit = min(token.share ?? Int.max, token.sent + hopsPerRound)
                token.hops = []
                let at = token.position(loops: loops)
                token.done = Future<Void>(loop: group.loops[at])
                do {
                    _ = try group.submitTask(to: at) { await travel(token, at: at, ring) }
                } catch {
                    context.violation("refused", loop: at, producer: token.index,
                                      expected: "the group to accept the token's task", seen: "\(error)")
                    _ = try? token.done.setResult(())
                }
            }
            finished = waitForTokens(tokens, ring)
            // Each token's round, renumbered from its start.
            let records = tokens.map { token in
                let offset = roundStart[token.index]
                return RingChecker.Token(
                    index: token.index, start: (token.start + offset) % loops, sent: token.sent - offset,
                    hops: token.hops.map { hop in
                        var hop = hop
                        hop.sequence -= offset
                        return hop
                    })
            }
            let arrivals = states.map { state in
                state.arrivals.map { RingChecker.Arrival(token: $0.token, sequence: $0.sequence - roundStart[$0.token]) }
            }
            for state in states { state.arrivals.removeAll(keepingCapacity: true) }
            context.violations.record(RingChecker(loops: loops).check(tokens: records, arrivals: arrivals))
            roundStart = tokens.map(\.sent)
            rounds += 1
        } while finished == tokenCount && !context.timeIsUp && tokens.contains(where: \.hasMore)
        try group.syncShutdownGracefully()
        let hops = tokens.reduce(0) { $0 + $1.sent }
        return ScenarioOutcome(operations: UInt64(hops), statistics: group.statistics.total,
                               details: ["hops": hops, "tokens": tokenCount, "tokensStuck": tokenCount - finished,
                                         "rounds": rounds])
    }

    /// The token's life on loop `here`: take note of the arrival, then send the next hop (or stop).
    /// A task of loop `here`.
    static func travel(_ token: Token, at here: Int, _ ring: Ring) async {
        let group = ring.group
        let loops = group.count
        let arrivedOn = currentLoop(group)
        if !token.hops.isEmpty { token.hops[token.hops.count - 1].continuedOn = arrivedOn }
        guard arrivedOn == here, token.sent < token.limit, !ring.context.timeIsUp else {
            // Stopped (or lost its way: the checker reports the hop's `continuedOn`).
            _ = try? token.done.setResult(())
            return
        }
        let next = (here + 1) % loops
        let sequence = token.sent
        token.sent += 1
        let states = ring.states
        let tokenIndex = token.index
        do {
            let stamp = monotonicNanoseconds()
            let ranOn = try await group.submit(to: next) { () -> Int in
                // Logged on the loop it actually runs on (the only thread that touches that log).
                let loop = currentLoop(group)
                if states.indices.contains(loop) {
                    states[loop].arrivals.append(RingChecker.Arrival(token: tokenIndex, sequence: sequence))
                }
                return loop
            }.value
            let elapsed = monotonicNanoseconds() - stamp
            let resumedOn = currentLoop(group)
            if resumedOn == here { states[here].latency.record(nanoseconds: elapsed) }
            token.hops.append(RingChecker.Hop(sequence: sequence, from: here, ranOn: ranOn, resumedOn: resumedOn,
                                              continuedOn: nil))
            ring.hopsDone.add()
            ring.context.progress.addOperations(1)
            try group.loop(at: next).createTask { await travel(token, at: next, ring) }
        } catch {
            ring.context.violation("hop failed", loop: here, producer: token.index, sequence: sequence,
                                   expected: "the hop to loop \(next) to complete", seen: "\(error)")
            _ = try? token.done.setResult(())
        }
    }

    /// The index of the loop running on this thread; -1 if none of the group's.
    static func currentLoop(_ group: LoopGroup) -> Int {
        guard let loop = try? getRunningLoop() else { return -1 }
        return group.index(of: loop) ?? -1
    }

    /// Blocks until every token stopped, or until the hops stop advancing for `stall` seconds
    /// (a lost hop: its token would wait forever; then every token not stopped is reported).
    /// Returns how many stopped.
    private static func waitForTokens(_ tokens: [Token], _ ring: Ring, stall: Double = 30) -> Int {
        for token in tokens where !waitUntil(progress: ring.hopsDone, stall: stall, { token.done.isDone }) {
            for stuck in tokens where !stuck.done.isDone {
                ring.context.violation("stalled", producer: stuck.index, expected: "the token to stop",
                                       seen: "no hop for \(Int(stall)) s")
            }
            break
        }
        return tokens.filter { $0.done.isDone }.count
    }
}
