import _MultiLoopEventLoop
import _MultiLoopSystem

/// Every way a generator operation can be refused. Python raises `StopIteration`, `TypeError`,
/// `ValueError` or `RuntimeError` with a message for these; MultiLoop gives each its own case.
/// None of them changes the generator's state, except where a case says so.
public enum GeneratorError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `send` to a generator that has finished (returned, thrown, or been closed).
    /// Python: `StopIteration` raised by `send` / `next` on an exhausted generator.
    case stopIteration
    /// `send` of a non-nil value to a generator whose body has not started: there is no `yield`
    /// to receive it. Python: `TypeError: can't send non-None value to a just-started generator`.
    case nonNilSendToJustStarted
    /// `send`, `throw` or `close` while the body is executing (from the body itself, from another
    /// task while a `send` is in progress, or from a body that `yield(from:)` delegates to).
    /// Python: `ValueError: generator already executing`.
    case alreadyExecuting
    /// `close()` threw `GeneratorExit` into the body and the body yielded again instead of
    /// finishing; the generator stays suspended at that new `yield`.
    /// Python: `RuntimeError: generator ignored GeneratorExit`.
    case ignoredGeneratorExit
    /// The body itself threw `GeneratorError.stopIteration` (typically from a `send` or a
    /// `yield(from:)` to another, finished, generator, or thrown into it with `throw`); it reaches
    /// the caller as this case so that it cannot be mistaken for the end of this generator, which
    /// has finished. Python (PEP 479): `RuntimeError: generator raised StopIteration`.
    case raisedStopIteration
    /// A non-nil value was sent to a generator whose body is in `yield(from: sequence)`: a
    /// `Sequence` cannot receive it. Thrown into the body at that `yield(from:)`, which stops
    /// reading the sequence (the body may catch it). Python: `AttributeError: 'list_iterator'
    /// object has no attribute 'send'`, raised at the `yield from`.
    case nonNilSendToSequence
    /// `yield` was called while the generator is not executing its body: the context was kept
    /// and used after the body finished, or from another task while the body was suspended.
    /// Python has no equivalent (`yield` is syntax).
    case notExecuting

    public var description: String {
        switch self {
        case .stopIteration: return "StopIteration: the generator has finished"
        case .nonNilSendToJustStarted: return "can't send non-nil value to a just-started generator"
        case .alreadyExecuting: return "generator already executing"
        case .ignoredGeneratorExit: return "generator ignored GeneratorExit"
        case .raisedStopIteration: return "generator raised StopIteration"
        case .nonNilSendToSequence: return "can't send non-nil value to a sequence in yield(from:)"
        case .notExecuting: return "yield called while the generator is not executing its body"
        }
    }
}

/// Thrown into a generator's body at its `yield` by `close()` (or when an unfinished generator
/// is deallocated), so that the body can clean up. The body should let it propagate (or
/// return); yielding again makes `close()` throw `GeneratorError.ignoredGeneratorExit`.
/// Python: `GeneratorExit`.
public struct GeneratorExit: Error, Equatable, Sendable, CustomStringConvertible {
    public init() {}
    public var description: String { "GeneratorExit" }
}
