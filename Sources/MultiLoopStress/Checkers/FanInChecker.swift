/// Checks one loop's share of the fan-in scenario as the callbacks run, in O(1) memory per
/// producer: producer `p` sends its item `s` to loop `s % loops`, so loop `i` must see exactly
/// `i, i + loops, i + 2·loops, ...` from each producer, in that order. A gap is a lost item, a
/// repeat a duplicate, an earlier number a reorder; `finish` catches items lost at the end.
///
/// Touched by one loop's thread only.
struct FanInChecker {
    let loop: Int
    let loops: Int
    /// The next sequence number expected from each producer.
    private(set) var next: [Int]
    /// Items seen.
    private(set) var seen = 0

    init(loop: Int, loops: Int, producers: Int) {
        self.loop = loop
        self.loops = loops
        next = Array(repeating: loop, count: producers)
    }

    /// Checks one executed item; returns what is wrong with it, if anything.
    mutating func observe(producer: Int, sequence: Int) -> StressViolation? {
        seen += 1
        guard next.indices.contains(producer) else {
            return violation("unknown producer", producer, sequence, expected: "producer < \(next.count)",
                             seen: "producer \(producer)")
        }
        let expected = next[producer]
        if sequence == expected {
            next[producer] += loops
            return nil
        }
        if sequence % loops != loop {
            return violation("misrouted", producer, sequence, expected: "a sequence number ≡ \(loop) mod \(loops)",
                             seen: "\(sequence)")
        }
        if sequence > expected {
            // Items expected..<sequence (of this loop) never came; resynchronize after it.
            next[producer] = sequence + loops
            let missing = (sequence - expected) / loops
            return violation("lost", producer, expected, expected: "\(expected)",
                             seen: "\(sequence) (\(missing) item(s) missing)")
        }
        return violation(sequence == expected - loops ? "duplicate" : "reordered", producer, sequence,
                         expected: "\(expected)", seen: "\(sequence)")
    }

    /// After the run: every item producer `p` sent to this loop (`submitted[p]` items in all,
    /// spread round-robin) must have been seen.
    func finish(submitted: [Int]) -> [StressViolation] {
        submitted.enumerated().compactMap { producer, count in
            // The first sequence number >= count that belongs to this loop.
            let end = count <= loop ? loop : loop + ((count - loop + loops - 1) / loops) * loops
            guard next[producer] < end else { return nil }
            return violation("lost", producer, next[producer], expected: "items up to \(end - loops)",
                             seen: "the last was \(next[producer] - loops)")
        }
    }

    private func violation(_ kind: String, _ producer: Int, _ sequence: Int, expected: String,
                           seen: String) -> StressViolation {
        StressViolation(scenario: StressScenario.fanIn.rawValue, kind: kind, loop: loop, producer: producer,
                        sequence: sequence, expected: expected, seen: seen)
    }
}
