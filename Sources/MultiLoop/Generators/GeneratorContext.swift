import _MultiLoopEventLoop
import _MultiLoopSystem

/// What a generator's body receives: its `yield`, and its `yield(from:)`. Python: the `yield`
/// and `yield from` expressions inside a generator function (`received = yield value`,
/// `result = yield from sub`).
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
    /// - Throws: the error passed to the generator's `throw` while suspended here (catch it to
    ///   go on); `GeneratorExit` when the generator is closed or deallocated while suspended
    ///   here (let it propagate, or return); `CancellationError` when the body's task is cancelled
    ///   (by the cancellation of a task waiting in `send`, `throw` or `close`, or by `run`
    ///   cleaning up the tasks it leaves), at once if it already is, without handing `value` over;
    ///   `GeneratorError.notExecuting` if the generator is not executing this body.
    @discardableResult
    public func yield(_ value: Yielded) async throws -> Sent? {
        try await yieldImplementation(value)
    }

    /// Delegates to `generator` until it returns, and returns what it returns.
    /// Python (PEP 380): `result = yield from generator`.
    ///
    /// Resumes `generator` with `send(nil)` (Python's `next`), then, until it returns:
    /// - each value it yields is yielded by this body, to this generator's driver;
    /// - what the driver sends goes on to `generator.send`, nil included;
    /// - an error thrown into this body (`throw`) goes on to `generator.throw`, except
    ///   `GeneratorExit` (this generator's `close` or deallocation, or `throw(GeneratorExit())`):
    ///   `generator` is closed first, then `GeneratorExit` is rethrown here (or what
    ///   `generator`'s `close` threw);
    /// - an error `generator` ends with is rethrown here, where the body may catch it.
    ///
    /// A `generator` that has already started is resumed with nil, as in Python: the value it
    /// is suspended at went to whoever drove it before, and does not come out again. It runs on
    /// its own loop (by default the loop running this body), driven by this body, so this
    /// generator is executing all the while (`state` is `.running`) and is `.suspended` only
    /// while its driver has the value `generator` yielded. Delegating to a generator that is
    /// executing (this one, or one that delegates to this one) throws
    /// `GeneratorError.alreadyExecuting`, as Python raises `ValueError`.
    ///
    /// Call it from the body's own task, as `yield`.
    ///
    /// - Returns: `generator`'s return value.
    /// - Throws: what `generator.send`, `.throw` or `.close` throws: the error `generator` ends
    ///   with (an error thrown into this body that `generator` lets out, among others),
    ///   `GeneratorError.stopIteration` if it has finished before or apart from this delegation
    ///   (Python's `yield from` gives `None` there; without a return value to give, this body
    ///   may catch it, and if it lets it out, its driver gets
    ///   `GeneratorError.raisedStopIteration`), `alreadyExecuting`;
    ///   `GeneratorExit` when this generator is closed or deallocated while suspended here,
    ///   once `generator` is closed; `CancellationError` when this body's task is cancelled:
    ///   while it waits for `generator` (which then gets `CancellationError` too, the
    ///   cancellation of a waiting `send` being forwarded to its body), or while it is
    ///   suspended here (`generator` is left as it is: a cancelled task cannot drive it).
    @discardableResult
    public func yield<SubReturned: Sendable>(
        from generator: Generator<Yielded, Sent, SubReturned>
    ) async throws -> SubReturned {
        // PEP 380's expansion of `RESULT = yield from EXPR`, a generator having every method.
        var step = try await generator.send(nil)
        while true {
            let value: Yielded
            switch step {
            case .returned(let result):
                return result
            case .yielded(let yielded):
                value = yielded
            }
            let sent: Sent?
            do {
                sent = try await yield(value)
            } catch let exit as GeneratorExit {
                try await generator.close()
                throw exit
            } catch {
                step = try await generator.throw(error)
                continue
            }
            step = try await generator.send(sent)
        }
    }

    /// Yields the elements of `sequence` one by one. Python: `yield from iterable`, for an
    /// iterable that is not a generator (`yield from [1, 2, 3]`, `yield from range(n)`).
    ///
    /// Each element is taken when it is about to be yielded (a lazy sequence is not read ahead)
    /// and the next one when the driver sends nil (Python's `next`). A sequence has no `send`,
    /// `throw` or `close`: a non-nil send throws `GeneratorError.nonNilSendToSequence` here, and
    /// an error thrown into this body (`GeneratorExit` included) is rethrown here at once; the
    /// rest of the sequence is not read.
    ///
    /// Call it from the body's own task, as `yield`.
    ///
    /// - Throws: `GeneratorError.nonNilSendToSequence` for a non-nil send (Python:
    ///   `AttributeError: 'list_iterator' object has no attribute 'send'`); otherwise what
    ///   `yield` throws.
    public func yield<Elements: Sequence>(from sequence: Elements) async throws
    where Elements.Element == Yielded {
        var iterator = sequence.makeIterator()
        while let value = iterator.next() {
            if try await yield(value) != nil { throw GeneratorError.nonNilSendToSequence }
        }
    }
}
