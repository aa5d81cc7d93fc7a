/// What a generator's body receives: its `yield`. Python: the `yield` expression inside a
/// generator function (`received = yield value`).
public struct GeneratorContext<Yielded: Sendable, Sent: Sendable>: Sendable {
    private let yieldImplementation: @Sendable (Yielded) async throws -> Sent?

    init(yield: @escaping @Sendable (Yielded) async throws -> Sent?) {
        yieldImplementation = yield
    }

    /// Hands `value` to the `send` that is waiting for it (as that `send`'s result) and suspends
    /// the body until the generator is driven again. Python: `received = yield value`.
    ///
    /// Call it from the body's own task (not from a task the body started).
    ///
    /// - Returns: the value of the next `send`: nil for `send(nil)` and for iteration (Python's
    ///   `next(gen)` sends `None`).
    /// - Throws: `GeneratorExit` when the generator is closed or deallocated while suspended here
    ///   (let it propagate, or return); `CancellationError` when the body's task is cancelled
    ///   (by the cancellation of a task waiting in `send` / `close`, or by `run` cleaning up
    ///   the tasks it leaves), at once if it already is, without handing `value` over;
    ///   `GeneratorError.notExecuting` if the generator is not executing this body.
    @discardableResult
    public func yield(_ value: Yielded) async throws -> Sent? {
        try await yieldImplementation(value)
    }
}
