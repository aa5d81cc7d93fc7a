extension Future {
    /// Suspends the calling task until the future is done, then returns its result or rethrows
    /// its error. asyncio: `await future`.
    ///
    /// Works from any task: on a loop's task the task resumes on that loop (through a done
    /// callback registered there); elsewhere through the future's own loop. A future that is
    /// already done returns at once, with no suspension and no allocation.
    ///
    /// Cancelling the awaiting task ends the wait with `CancellationError` at once. Unlike
    /// asyncio, the future itself is not cancelled: other tasks may be waiting for it, and it may
    /// belong to another loop; cancel it yourself if you own it.
    ///
    /// - Throws: the future's error (`CancelledError` if the future was cancelled);
    ///   `CancellationError` if the awaiting task is cancelled first; `EventLoopError.closed` if
    ///   the loop that would deliver the result is closed.
    @inlinable
    public var value: Value {
        get async throws {
            // Inlinable so that a done future costs the caller a load and no async call.
            if isDone { return try result() }
            return try await suspendUntilDone()
        }
    }

    /// The slow path of `value`: suspends until a done callback or a cancellation resumes us.
    @usableFromInline
    func suspendUntilDone() async throws -> Value {
        let awaiter = OneShotResumer<Value, DoneCallbackToken>()
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { (continuation: UnsafeContinuation<Value, any Error>) in
                guard awaiter.install(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                do {
                    let token = try addDoneCallback { future in
                        awaiter.takeContinuation()?.resume(with: Result { try future.result() })
                    }
                    if awaiter.keep(token) == false { removeDoneCallback(token) }
                } catch {
                    awaiter.takeContinuation()?.resume(throwing: error)
                }
            }
        } onCancel: {
            let (continuation, token) = awaiter.cancel()
            if let token { removeDoneCallback(token) }
            continuation?.resume(throwing: CancellationError())
        }
    }
}

