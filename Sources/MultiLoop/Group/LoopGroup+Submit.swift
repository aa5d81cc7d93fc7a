import _MultiLoopEventLoop
import _MultiLoopSystem

extension LoopGroup {
    /// Runs `body` on a loop of the group and returns a future of its result. Any thread.
    /// asyncio: `call_soon_threadsafe` plus a future; SwiftNIO: `group.next().submit`.
    ///
    /// - Parameter index: the loop's index; nil for `next()`.
    /// - Returns: the future, completed on that loop with `body`'s value or error. Once accepted,
    ///   `body` runs exactly once, also when a shutdown starts before the loop reached it.
    /// - Throws: `LoopGroupError.shutDown` if the group no longer accepts work (then `body` never
    ///   runs); `.indexOutOfRange`.
    public func submit<Value: Sendable>(to index: Int? = nil, file: StaticString = #fileID, line: UInt = #line,
                                        _ body: @escaping @Sendable () throws -> Value) throws(LoopGroupError) -> Future<Value> {
        let loop = try pick(index)
        do {
            return try loop.submit(file: file, line: line, body)
        } catch {
            throw .shutDown
        }
    }

    /// Runs `operation` as a task of a loop of the group and returns a future of its result. Any
    /// thread. asyncio: `run_coroutine_threadsafe`; SwiftNIO: `makeFutureWithTask`.
    ///
    /// Awaitable from a task of any loop (`try await future.value`) or blockable from a plain
    /// thread (`future.wait(timeout:)`). Cancelling the future cancels the task. A submission
    /// accepted before a shutdown but reached by its loop only after it started is not started:
    /// its future is cancelled, and the shutdown report counts it (`submissionsCancelled`).
    ///
    /// - Parameter index: the loop's index; nil for `next()`.
    /// - Throws: `LoopGroupError.shutDown`, `.indexOutOfRange`.
    public func submitTask<Value: Sendable>(to index: Int? = nil, name: String? = nil,
                                            _ operation: @escaping @Sendable () async throws -> Value) throws(LoopGroupError) -> Future<Value> {
        let loop = try pick(index)
        let member = members[self.index(of: loop)!]
        let future = Future<Value>(loop: loop)
        do {
            try loop.execute { member.startSubmittedTask(future, name: name, operation) }
        } catch {
            throw .shutDown
        }
        return future
    }

    private func pick(_ index: Int?) throws(LoopGroupError) -> EventLoop {
        guard isAcceptingWork else { throw .shutDown }
        guard let index else { return next() }
        return try loop(at: index)
    }
}
