import _MultiLoopEventLoop
import _MultiLoopSystem

/// A generator whose body is an `async` closure running as a task of an event loop, driven with
/// `send` and `throw`. Python: a generator object (`def g(): received = yield value ... return
/// result`), with `gen.send(v)`, `next(gen)` / `for v in gen`, `gen.throw(e)`, `gen.close()`;
/// its body delegates to another generator with `context.yield(from: sub)` (`yield from sub`).
///
/// ```swift
/// let consumer = Generator<Bool, Int, Void> { generator in
///     while true {
///         let n = try await generator.yield(true)   // n = yield status
///         print("got \(n!)")
///     }
/// }
/// try await consumer.send(nil)                      // c.send(None): runs to the first yield
/// let status = try await consumer.send(5)           // .yielded(true)
/// ```
///
/// Creating a generator runs nothing. The first `send(nil)` starts the body as a task of the
/// generator's loop (the `loop` given, else the loop running where that `send` is called) and
/// waits until the body reaches a `yield` or ends; each further `send(v)` resumes the body at its
/// `yield`, which returns `v`, and waits again. One side runs at a time: the driver is suspended
/// on a continuation while the body runs, and the body on another while it is suspended.
///
/// `send` is `async`, unlike Python's: the body is a task of the loop, so a synchronous `send`
/// would have to block its thread until the body yields, which deadlocks when that thread is the
/// loop's own (the only one that can run the body), i.e. from any code running on the loop. An
/// `async` send suspends instead, which frees the loop to run the body, and works from any task:
/// one of the body's loop, of another loop, or of Swift's global executor. The price is a
/// hand-over through the loop's ready queue in each direction, instead of Python's plain call.
///
/// The body's end: its return value comes back from the `send` (or `throw`) that resumed it, as
/// `.returned(value)`, and any further `send` throws `GeneratorError.stopIteration`. An error
/// the body throws is rethrown by that `send` or `throw`, and the generator is finished too.
///
/// Thread-safe: any task may drive the generator, one at a time; a `send`, `throw` or `close`
/// while the body executes throws `GeneratorError.alreadyExecuting` (it never queues or blocks).
///
/// Cancellation: cancelling a task that waits in `send`, `throw` or `close` cancels the body's
/// task (Swift cancellation cannot be withdrawn, so this ends the generator unless the body
/// catches `CancellationError` and yields or returns): the body gets `CancellationError` at its
/// current or next cancellation-aware `await`, `yield` included, and the waiting call throws
/// what the body ends with. A body suspended at a `yield` whose task is cancelled (`run` cancels
/// the tasks it leaves) gets `CancellationError` there and runs on unattended.
///
/// Deallocating a generator whose body is suspended throws `GeneratorExit` into it (Python closes
/// a generator when it is garbage-collected), so an abandoned generator does not keep a task
/// suspended forever. What the body does then is reported to the loop's exception handler if it
/// is an error other than `GeneratorExit` or a cancellation, or if it yields again.
///
/// The body must not capture its own `Generator` strongly (that cycle would keep both alive).
public final class Generator<Yielded: Sendable, Sent: Sendable, Returned: Sendable>: Sendable {
    public typealias Context = GeneratorContext<Yielded, Sent>
    public typealias Body = @Sendable (Context) async throws -> Returned

    private let core: GeneratorCore<Yielded, Sent, Returned>

    /// Creates a generator; its body does not run until the first `send(nil)` or iteration.
    /// Python: calling a generator function (`gen = g()`).
    ///
    /// - Parameters:
    ///   - loop: the loop the body runs on; nil: the loop running where the first `send` is
    ///     called.
    ///   - name: the name of the body's task (`LoopTask.name`); nil: the default "Task-N".
    ///   - body: the generator function; it yields with `context.yield(value)`.
    public init(loop: EventLoop? = nil, name: String? = nil, _ body: @escaping Body) {
        core = GeneratorCore(loop: loop, name: name, body: body)
    }

    deinit {
        core.abandon()
    }

    /// Resumes the body with `value` and waits for its next `yield` or its end.
    /// Python: `gen.send(value)` (and `send(nil)` is `next(gen)`).
    ///
    /// A just-started generator must be sent nil: it starts the body, which runs to its first
    /// `yield`. A suspended one receives `value` as the result of the `yield` it waits at.
    ///
    /// - Returns: `.yielded(v)` when the body reached `yield(v)`; `.returned(r)` when it returned
    ///   `r` (Python raises `StopIteration(r)`); the generator has then finished.
    /// - Throws: `GeneratorError.stopIteration` if the generator has finished;
    ///   `GeneratorError.nonNilSendToJustStarted` for a non-nil value before the body started;
    ///   `GeneratorError.alreadyExecuting` while the body executes (from the body itself, or
    ///   while another task's `send` or `throw` is in progress); `EventLoopError.noRunningLoop`
    ///   when it has to start the body, no loop was given and none runs here,
    ///   `EventLoopError.closed` when that loop is closed (nothing has changed after any of
    ///   these); the error the body threw (it has then finished;
    ///   `GeneratorError.raisedStopIteration` for a `GeneratorError.stopIteration` it let
    ///   through); `CancellationError` if the calling task is cancelled (already cancelled: at
    ///   once, and the generator is left as it was).
    @discardableResult
    public func send(_ value: Sent?) async throws -> GeneratorStep<Yielded, Returned> {
        try await core.send(value)
    }

    /// Throws `error` into the body at the `yield` where it is suspended, and waits for its next
    /// `yield` or its end. Python: `gen.throw(error)`.
    ///
    /// The body may catch `error` and go on: the `yield` it reaches next comes back as
    /// `.yielded(v)`, its return as `.returned(r)`. If it lets `error` (or another error) out,
    /// `throw` rethrows that, and the generator has finished. A body suspended in
    /// `context.yield(from: sub)` passes `error` on to `sub.throw(error)` (PEP 380), except
    /// `GeneratorExit`, which closes `sub` first.
    ///
    /// A generator that has not started is finished without running its body, and `error` is
    /// thrown back (Python raises it at the body's start, before any of it runs); a finished
    /// generator throws `error` back and stays finished. Neither needs a loop.
    ///
    /// Throwing `GeneratorExit` is not `close()`: a body that catches it and yields again comes
    /// back as `.yielded(v)` (`close` would throw `GeneratorError.ignoredGeneratorExit`), and a
    /// body that lets it out makes `throw` rethrow it, as in Python.
    ///
    /// - Returns: `.yielded(v)` when the body caught `error` and reached `yield(v)`;
    ///   `.returned(r)` when it returned `r` (Python raises `StopIteration(r)`); the generator
    ///   has then finished.
    /// - Throws: `error` when the generator had finished, or had not started (it has now
    ///   finished); the error the body ended with, `error` or another (it has then finished;
    ///   `GeneratorError.raisedStopIteration` for a `GeneratorError.stopIteration`, thrown in
    ///   or not, that ended the body or was thrown into a generator that had not started);
    ///   `GeneratorError.alreadyExecuting` while the body executes (from the body itself, or
    ///   while another task's `send` or `throw` is in progress; nothing has changed);
    ///   `CancellationError` if the calling task is cancelled, as for `send` (already
    ///   cancelled: at once, `error` goes nowhere, and the generator is left as it was).
    @discardableResult
    public func `throw`(_ error: any Error) async throws -> GeneratorStep<Yielded, Returned> {
        try await core.throw(error)
    }

    /// Finishes the generator. Python: `gen.close()`.
    ///
    /// A suspended body gets `GeneratorExit` at its `yield`; `close` waits until it ends (it may
    /// clean up, even `await`). A generator that has not started is finished without running
    /// its body; closing a finished generator does nothing. Either way the generator is then
    /// finished: `send` throws `GeneratorError.stopIteration`.
    ///
    /// - Throws: `GeneratorError.ignoredGeneratorExit` if the body yielded again instead of
    ///   ending (it stays suspended at that `yield`); an error other than `GeneratorExit` that
    ///   the body ended with; `GeneratorError.alreadyExecuting` while the body executes;
    ///   `CancellationError` if the calling task is cancelled while the body cleans up (the
    ///   body's task is cancelled too). Unlike `send`, a task that is already cancelled can
    ///   close: `GeneratorExit` is still thrown into the body, but its task is cancelled at once.
    public func close() async throws {
        try await core.close()
    }

    /// Where the generator is in its life. Python: `inspect.getgeneratorstate(gen)`.
    public var state: GeneratorState { core.state }
}

extension Generator: AsyncSequence {
    public typealias Element = Yielded
    public typealias Failure = any Error

    /// Iterates the generator: each step is `send(nil)`. Python: `for value in gen` / `next(gen)`.
    ///
    /// Iteration ends (nil) when the body returns (its return value is dropped, as Python's `for`
    /// drops `StopIteration.value`) or if the generator had already finished; an error the body
    /// throws ends it by being rethrown. Leaving the loop early (`break`) leaves the generator
    /// suspended, as in Python: `close()` it, or let it be deallocated.
    public struct AsyncIterator: AsyncIteratorProtocol {
        let generator: Generator
        var finished = false

        public mutating func next() async throws -> Yielded? {
            guard !finished else { return nil }
            do {
                switch try await generator.send(nil) {
                case .yielded(let value):
                    return value
                case .returned:
                    finished = true
                    return nil
                }
            } catch GeneratorError.stopIteration {
                finished = true
                return nil
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(generator: self)
    }
}
