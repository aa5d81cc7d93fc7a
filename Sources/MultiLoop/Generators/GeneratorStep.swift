import _MultiLoopEventLoop
import _MultiLoopSystem

/// What one `send` (or `throw`) to a generator produced: the value of its next `yield`, or, when
/// the body returned instead, its return value.
///
/// Python: `gen.send(v)` returns the yielded value, or raises `StopIteration(value)` when the
/// generator returns; here the return is an ordinary result, `.returned(value)`, type-checked
/// with the generator's `Returned` type. (Sending again after that throws
/// `GeneratorError.stopIteration`, as Python raises a bare `StopIteration`.)
public enum GeneratorStep<Yielded: Sendable, Returned: Sendable>: Sendable {
    /// The body reached `yield(value)` and is suspended there.
    case yielded(Yielded)
    /// The body returned `value`; the generator has finished.
    case returned(Returned)

    /// The yielded value, or nil if the body returned.
    public var yieldedValue: Yielded? {
        if case .yielded(let value) = self { return value }
        return nil
    }

    /// The return value, or nil if the body yielded. Python: `StopIteration.value`.
    public var returnValue: Returned? {
        if case .returned(let value) = self { return value }
        return nil
    }
}

extension GeneratorStep: Equatable where Yielded: Equatable, Returned: Equatable {}

/// Where a generator is in its life. Python: `inspect.getgeneratorstate(gen)`.
public enum GeneratorState: Sendable, Equatable {
    /// Not started: the first `send(nil)` (or iteration) runs the body. `GEN_CREATED`.
    case created
    /// The body is executing (a `send`, `throw` or `close` waits for it, or it runs unattended
    /// after a cancellation or after its generator was deallocated); a body in `yield(from:)`
    /// executes while the generator it delegates to runs. `GEN_RUNNING`.
    case running
    /// The body is suspended at a `yield`, waiting for the next `send`. `GEN_SUSPENDED`.
    case suspended
    /// The body finished (returned or threw), or the generator was closed. `GEN_CLOSED`.
    case closed
}
