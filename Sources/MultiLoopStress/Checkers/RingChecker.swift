/// Checks the ring scenario once it is over, from plain records. Token `t` starts on loop
/// `start(t)`; its hop `s` (s = 0, 1, ...) goes from loop `(start + s) % n` to loop
/// `(start + s + 1) % n`: the token's task there awaits a future that the next loop completes,
/// then the token continues as a task of that next loop. So every hop has one place it must
/// happen, seen from both sides:
///
/// - the token's own log: hop `s` exactly once, in order, for `s` in `0..<sent`, sent from,
///   completed on, resumed on and continued on the expected loops;
/// - the loops' arrival logs (what each completing closure wrote on the loop it ran on): each
///   `(token, s)` exactly once, on the expected loop. This side catches a closure run twice,
///   which the token (awaiting a future completed once) cannot see.
///
/// Pure: the tests feed it corrupted records.
struct RingChecker {
    /// One hop as the token saw it. The loop indices are what `group.index(of: getRunningLoop())`
    /// said at each step (-1: not one of the group's loops).
    struct Hop: Sendable, Equatable {
        var sequence: Int
        /// Where the token's task was when it sent the hop.
        var from: Int
        /// Where the completing closure ran (its future's value).
        var ranOn: Int
        /// Where the awaiting task resumed.
        var resumedOn: Int
        /// Where the token's next task started (nil: it never did; after its last hop the token
        /// still continues on the next loop, and stops there).
        var continuedOn: Int?
    }

    /// One token's log.
    struct Token: Sendable {
        var index: Int
        var start: Int
        /// Hops the token was sent on (sequence numbers `0..<sent`).
        var sent: Int
        var hops: [Hop]
    }

    /// One completing closure's entry in the log of the loop it ran on.
    struct Arrival: Sendable, Equatable {
        var token: Int
        var sequence: Int
    }

    let loops: Int

    /// The loop hop `sequence` of a token starting on `start` leaves from.
    func origin(start: Int, sequence: Int) -> Int { (start + sequence) % loops }

    /// The loop it must arrive at.
    func destination(start: Int, sequence: Int) -> Int { (start + sequence + 1) % loops }

    /// - Parameter arrivals: per loop (by index), that loop's arrival log.
    func check(tokens: [Token], arrivals: [[Arrival]]) -> [StressViolation] {
        var found: [StressViolation] = []
        func report(_ kind: String, loop: Int?, token: Int, sequence: Int?, expected: String, seen: String) {
            found.append(StressViolation(scenario: StressScenario.ring.rawValue, kind: kind, loop: loop,
                                         producer: token, sequence: sequence, expected: expected, seen: seen))
        }

        // The tokens' own logs.
        for token in tokens {
            var next = 0  // the sequence number expected next
            for hop in token.hops {
                let sequence = hop.sequence
                if sequence != next {
                    if sequence < next {
                        report("repeated hop", loop: hop.from, token: token.index, sequence: sequence,
                               expected: "hop \(next)", seen: "hop \(sequence) again")
                        continue
                    }
                    report("lost hop", loop: hop.from, token: token.index, sequence: next,
                           expected: "hop \(next)", seen: "hop \(sequence) (\(sequence - next) missing)")
                }
                next = sequence + 1
                let from = origin(start: token.start, sequence: sequence)
                let to = destination(start: token.start, sequence: sequence)
                func place(_ what: String, _ seen: Int?, _ expected: Int) {
                    guard let seen, seen != expected else { return }
                    report("wrong loop", loop: seen, token: token.index, sequence: sequence,
                           expected: "\(what) loop \(expected)", seen: "loop \(seen)")
                }
                place("sent from", hop.from, from)
                place("completed on", hop.ranOn, to)
                place("resumed on", hop.resumedOn, from)
                place("continued on", hop.continuedOn, to)
                if hop.continuedOn == nil {
                    report("lost hop", loop: to, token: token.index, sequence: sequence,
                           expected: "the token to continue on loop \(to)", seen: "it never did")
                }
            }
            if next < token.sent {
                report("lost hop", loop: origin(start: token.start, sequence: next), token: token.index,
                       sequence: next, expected: "\(token.sent) hop(s)",
                       seen: "the last was hop \(next - 1)")
            } else if next > token.sent {
                report("repeated hop", loop: nil, token: token.index, sequence: token.sent,
                       expected: "\(token.sent) hop(s) sent", seen: "hops up to \(next - 1)")
            }
        }

        // The loops' arrival logs: each hop completed exactly once, where it should be.
        var byIndex: [Int: Token] = [:]
        for token in tokens { byIndex[token.index] = token }
        var counts: [Int: [Int]] = [:]  // token -> arrivals per sequence number
        for (loop, log) in arrivals.enumerated() {
            for arrival in log {
                guard let token = byIndex[arrival.token], arrival.sequence >= 0, arrival.sequence < token.sent else {
                    report("repeated hop", loop: loop, token: arrival.token, sequence: arrival.sequence,
                           expected: "only hops that were sent", seen: "an arrival never sent")
                    continue
                }
                let expected = destination(start: token.start, sequence: arrival.sequence)
                if loop != expected {
                    report("wrong loop", loop: loop, token: arrival.token, sequence: arrival.sequence,
                           expected: "arrival on loop \(expected)", seen: "loop \(loop)")
                }
                counts[arrival.token, default: Array(repeating: 0, count: token.sent)][arrival.sequence] += 1
            }
        }
        for token in tokens {
            let perHop = counts[token.index] ?? Array(repeating: 0, count: token.sent)
            for (sequence, count) in perHop.enumerated() where count != 1 {
                let loop = destination(start: token.start, sequence: sequence)
                if count == 0 {
                    report("lost hop", loop: loop, token: token.index, sequence: sequence,
                           expected: "an arrival on loop \(loop)", seen: "none")
                } else {
                    report("repeated hop", loop: loop, token: token.index, sequence: sequence,
                           expected: "one arrival", seen: "\(count) arrivals")
                }
            }
        }
        return found
    }
}
