import _MultiLoopEventLoop
import _MultiLoopSystem

/// The hand-over between a generator's body (a task of an event loop) and whoever drives it
/// (`send`, `throw`, `close`), and back. Any thread; every transition happens under `lock`, and
/// every continuation is resumed outside it, exactly once.
///
/// Exactly one side runs at a time: a driver suspends on its continuation (`Waiter`) while the
/// body runs; the body suspends on its continuation (`.suspended`) while nobody drives it.
final class GeneratorCore<Yielded: Sendable, Sent: Sendable, Returned: Sendable>: @unchecked Sendable {
    typealias Body = @Sendable (GeneratorContext<Yielded, Sent>) async throws -> Returned
    typealias Step = GeneratorStep<Yielded, Returned>

    /// The driver waiting for the body's next `yield` or end.
    enum Waiter {
        /// A `send` or a `throw`: its result is the body's next `yield` or its return.
        case step(UnsafeContinuation<Step, any Error>)
        case close(UnsafeContinuation<Void, any Error>)
    }

    /// Why the body runs with nobody waiting for it.
    enum Unattended {
        /// The generator was deallocated while suspended: the body got `GeneratorExit`.
        case abandoned
        /// The body's task was cancelled while it was suspended at a `yield`.
        case cancelled
    }

    enum Phase {
        case created(Body)
        /// The body runs; `call` identifies the driver (for its cancellation handler).
        case executing(Waiter, call: UInt64)
        case unattended(Unattended)
        /// The body waits at a `yield`; `id` identifies that yield (for its cancellation handler).
        case suspended(UnsafeContinuation<Sent?, any Error>, id: UInt64)
        case finished
    }

    private let lock = PThreadMutex()
    private var phase: Phase
    /// The loop the body runs on: the one given, else the running loop of the first `send`.
    private var loop: EventLoop?
    private let name: String?
    private var bodyTask: LoopTask<Void>?
    /// A driver was cancelled before the body's task existed: cancel it as soon as it does.
    private var cancelWhenStarted = false
    private var lastID: UInt64 = 0

    init(loop: EventLoop?, name: String?, body: @escaping Body) {
        self.loop = loop
        self.name = name
        phase = .created(body)
    }

    var state: GeneratorState {
        lock.withLock {
            switch phase {
            case .created: return .created
            case .executing, .unattended: return .running
            case .suspended: return .suspended
            case .finished: return .closed
            }
        }
    }

    private func newID() -> UInt64 {
        lock.withLock {
            lastID &+= 1
            return lastID
        }
    }

    // MARK: Drivers

    private enum Start {
        case nothing
        case fail(any Error)
        case resume(UnsafeContinuation<Sent?, any Error>, with: Result<Sent?, any Error>)
        case start(Body, on: EventLoop)
        case done
    }

    /// `Generator.send`.
    func send(_ value: Sent?) async throws -> Step {
        try await step(with: .success(value))
    }

    /// `Generator.throw`.
    func `throw`(_ error: any Error) async throws -> Step {
        try await step(with: .failure(error))
    }

    /// `send` (`input` is the value) and `throw` (`input` is the error): resumes the body at its
    /// `yield` with `input` and waits for its next `yield` or its end.
    private func step(with input: Result<Sent?, any Error>) async throws -> Step {
        try Task.checkCancellation()
        let call = newID()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Step, any Error>) in
                let start = lock.withLock { () -> Start in
                    switch (phase, input) {
                    case (.created, .failure(let error)):
                        // Python raises the error at the body's start, before any of it runs, so
                        // it ends the body as if the body threw it (PEP 479 included).
                        phase = .finished  // releases the body
                        return .fail(Self.bodyEnd(error))
                    case (.created, .success(.some)):
                        return .fail(GeneratorError.nonNilSendToJustStarted)
                    case (.created(let body), .success(.none)):
                        let loop: EventLoop
                        do {
                            loop = try self.loop ?? getRunningLoop()
                        } catch {
                            return .fail(error)
                        }
                        if loop.isClosed { return .fail(EventLoopError.closed) }
                        self.loop = loop
                        phase = .executing(.step(continuation), call: call)
                        return .start(body, on: loop)
                    case (.suspended(let resumption, _), _):
                        phase = .executing(.step(continuation), call: call)
                        return .resume(resumption, with: input)
                    case (.executing, _), (.unattended, _):
                        return .fail(GeneratorError.alreadyExecuting)
                    case (.finished, .success):
                        return .fail(GeneratorError.stopIteration)
                    case (.finished, .failure(let error)):
                        return .fail(error)  // Python re-raises it
                    }
                }
                perform(start, failing: { continuation.resume(throwing: $0) }, succeeding: {})
                if Task.isCancelled { forwardCancellation(of: call) }
            }
        } onCancel: {
            forwardCancellation(of: call)
        }
    }

    /// `Generator.close`.
    func close() async throws {
        let call = newID()
        try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Void, any Error>) in
                let start = lock.withLock { () -> Start in
                    switch phase {
                    case .created:
                        phase = .finished  // releases the body, which never runs
                        return .done
                    case .finished:
                        return .done
                    case .suspended(let resumption, _):
                        phase = .executing(.close(continuation), call: call)
                        return .resume(resumption, with: .failure(GeneratorExit()))
                    case .executing, .unattended:
                        return .fail(GeneratorError.alreadyExecuting)
                    }
                }
                perform(start, failing: { continuation.resume(throwing: $0) }, succeeding: { continuation.resume() })
                if Task.isCancelled { forwardCancellation(of: call) }
            }
        } onCancel: {
            forwardCancellation(of: call)
        }
    }

    /// What a driver decided under the lock, carried out outside it.
    private func perform(_ start: Start, failing: (any Error) -> Void, succeeding: () -> Void) {
        switch start {
        case .nothing:
            break
        case .fail(let error):
            failing(error)
        case .done:
            succeeding()
        case .resume(let resumption, let input):
            resumption.resume(with: input)
        case .start(let body, let loop):
            // Outside the lock: on a loop that closes meanwhile the task's first job runs at
            // once on this thread, and the body takes the lock.
            let task = loop.createTask(name: name) { [self] in await runBody(body) }
            // A task cancelled before its body started never runs it (asyncio's rule): then
            // nobody else would tell the driver. After a body that ran, this finds the
            // generator finished and does nothing.
            _ = try? task.addDoneCallback(on: loop) { [self] task in
                if task.isCancelled { deliverEnd(.failure(CancellationError())) }
            }
            let cancelNow = lock.withLock { () -> Bool in
                if case .finished = phase { return cancelWhenStarted }
                bodyTask = task
                return cancelWhenStarted
            }
            if cancelNow { task.cancel() }
        }
    }

    /// The driver `call` was cancelled: cancel the body's task if the body is still running for
    /// that driver (Swift's cancellation cannot be withdrawn, so the whole body is cancelled).
    private func forwardCancellation(of call: UInt64) {
        let task = lock.withLock { () -> LoopTask<Void>? in
            guard case .executing(_, let current) = phase, current == call else { return nil }
            if bodyTask == nil { cancelWhenStarted = true }
            return bodyTask
        }
        task?.cancel()  // outside the lock: the body's cancellation handlers take it
    }

    /// The generator was deallocated. A suspended body gets `GeneratorExit` at its `yield` and
    /// runs on unattended; a body that never started is released. Python: `gen.__del__`.
    func abandon() {
        let resumption = lock.withLock { () -> UnsafeContinuation<Sent?, any Error>? in
            switch phase {
            case .created:
                phase = .finished
                return nil
            case .suspended(let resumption, _):
                phase = .unattended(.abandoned)
                return resumption
            case .executing, .unattended, .finished:
                return nil
            }
        }
        resumption?.resume(throwing: GeneratorExit())
    }

    // MARK: The body's side

    private enum Handover {
        case nothing
        case toWaiter(Waiter)
        case ignoredExitWhileAbandoned(EventLoop?)
        case misuse
    }

    /// `GeneratorContext.yield`: hands `value` to the waiting driver and suspends until the next
    /// `send` (its value), `throw` (its error), `close` or deallocation (`GeneratorExit`), or
    /// cancellation of the body's task (`CancellationError`).
    func yield(_ value: Yielded) async throws -> Sent? {
        try Task.checkCancellation()
        let id = newID()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (resumption: UnsafeContinuation<Sent?, any Error>) in
                let handover = lock.withLock { () -> Handover in
                    switch phase {
                    case .executing(let waiter, _):
                        phase = .suspended(resumption, id: id)
                        return .toWaiter(waiter)
                    case .unattended(let reason):
                        phase = .suspended(resumption, id: id)
                        if case .abandoned = reason { return .ignoredExitWhileAbandoned(loop) }
                        return .nothing
                    case .created, .suspended, .finished:
                        return .misuse
                    }
                }
                switch handover {
                case .nothing:
                    break
                case .toWaiter(.step(let continuation)):
                    continuation.resume(returning: .yielded(value))
                case .toWaiter(.close(let continuation)):
                    continuation.resume(throwing: GeneratorError.ignoredGeneratorExit)
                case .ignoredExitWhileAbandoned(let loop):
                    // Python reports this through `sys.unraisablehook`. The body stays suspended
                    // until its task is cancelled (`run` does that to the tasks it leaves).
                    loop?.callExceptionHandler(EventLoopErrorContext(
                        message: "a deallocated generator ignored GeneratorExit and yielded again; "
                            + "its body stays suspended until its task is cancelled",
                        error: GeneratorError.ignoredGeneratorExit))
                case .misuse:
                    resumption.resume(throwing: GeneratorError.notExecuting)
                }
                if Task.isCancelled { cancelYield(id) }
            }
        } onCancel: {
            cancelYield(id)
        }
    }

    /// The body's task was cancelled: ends the wait at yield `id` if the body still waits there.
    private func cancelYield(_ id: UInt64) {
        let resumption = lock.withLock { () -> UnsafeContinuation<Sent?, any Error>? in
            guard case .suspended(let resumption, let current) = phase, current == id else { return nil }
            phase = .unattended(.cancelled)
            return resumption
        }
        resumption?.resume(throwing: CancellationError())
    }

    /// The body's task: runs the body and delivers its end to whoever waits for it.
    private func runBody(_ body: Body) async {
        let outcome: Result<Returned, any Error>
        do {
            outcome = .success(try await body(GeneratorContext(yield: { try await self.yield($0) })))
        } catch {
            outcome = .failure(Self.bodyEnd(error))
        }
        deliverEnd(outcome)
    }

    /// The body ended with `outcome` (or its task was cancelled before it started): the
    /// generator is finished, and whoever waits for the body is told. Once: a second call finds
    /// the generator finished.
    private func deliverEnd(_ outcome: Result<Returned, any Error>) {
        let (previous, loop) = lock.withLock { () -> (Phase, EventLoop?) in
            defer {
                phase = .finished
                bodyTask = nil  // the task holds this core: no cycle once it is done
            }
            return (phase, self.loop)
        }
        switch previous {
        case .executing(.step(let continuation), _):
            continuation.resume(with: outcome.map(Step.returned))
        case .executing(.close(let continuation), _):
            switch outcome {
            case .success, .failure(is GeneratorExit): continuation.resume()
            case .failure(let error): continuation.resume(throwing: error)
            }
        case .unattended(.abandoned):
            if case .failure(let error) = outcome, !(error is GeneratorExit), !Self.isCancellation(error) {
                loop?.callExceptionHandler(EventLoopErrorContext(
                    message: "a deallocated generator's body threw while closing", error: error))
            }
        case .unattended(.cancelled), .created, .suspended, .finished:
            break  // cancelled with nobody waiting: nothing to deliver
        }
    }

    /// What the body's driver gets for `error` leaving the body: `GeneratorError.stopIteration`
    /// becomes `raisedStopIteration`, so that it cannot be mistaken for this generator's end.
    /// Python (PEP 479): `RuntimeError: generator raised StopIteration`.
    private static func bodyEnd(_ error: any Error) -> any Error {
        (error as? GeneratorError) == .stopIteration ? GeneratorError.raisedStopIteration : error
    }

    private static func isCancellation(_ error: any Error) -> Bool {
        error is CancellationError || error is CancelledError
    }
}
