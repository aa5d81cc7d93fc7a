// The futures workload's unit on the peers that chain callbacks (MultiLoop, NIO, Dispatch): one
// loop asks another for a value, and the answer's callback, back on the first loop, asks again.

/// One loop's chain of round trips. Confined to its home loop: `next` and `received` run there.
final class RoundTripChain<Loop>: @unchecked Sendable {
    let home: Loop
    let other: Loop
    private let count: Int
    private let done: @Sendable (Int) -> Void
    /// Sends one request to `other`; its answer must reach `received(_:)` on `home`.
    private let ask: @Sendable (RoundTripChain<Loop>) -> Void
    private var answered = 0

    init(home: Loop, other: Loop, count: Int, done: @escaping @Sendable (Int) -> Void,
         ask: @escaping @Sendable (RoundTripChain<Loop>) -> Void) {
        self.home = home
        self.other = other
        self.count = count
        self.done = done
        self.ask = ask
    }

    /// Asks again, or reports the total when `count` answers came back.
    func next() {
        guard answered < count else { return done(answered) }
        ask(self)
    }

    func received(_ value: Int) {
        answered += value
        next()
    }
}
