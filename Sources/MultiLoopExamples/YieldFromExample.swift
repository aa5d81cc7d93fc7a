import MultiLoop

extension TutorialExample {
    /// The tutorial's "@asyncio.coroutine 与 yield from": two `print_sum` coroutines, each
    /// waiting for `compute` (one second), run at once under `gather`, in the old style: the
    /// thread's loop from `get_event_loop()`, `run_until_complete`, `close`. Takes about one
    /// second, not two.
    ///
    /// ```python
    /// import asyncio
    ///
    /// @asyncio.coroutine
    /// def compute(x, y):
    ///     print("Compute %s + %s ..." % (x, y))
    ///     yield from asyncio.sleep(1.0)
    ///     return x + y
    ///
    /// @asyncio.coroutine
    /// def print_sum(x, y):
    ///     result = yield from compute(x, y)
    ///     print("%s + %s = %s" % (x, y, result))
    ///
    /// loop = asyncio.get_event_loop()
    /// tasks = [print_sum(1, 2), print_sum(3, 4)]
    /// loop.run_until_complete(asyncio.gather(*tasks))
    /// loop.close()
    /// ```
    ///
    /// Swift has no generator-based coroutines: `async` functions and `await` take the place of
    /// `@asyncio.coroutine` and `yield from`, as the tutorial's next section does. (A coroutine's
    /// `yield from` waits for what it delegates to, which is `await`;
    /// `GeneratorContext.yield(from:)` is PEP 380's `yield from` between generators driven by
    /// `send`.) And MultiLoop's `gather` is awaited in a task (asyncio's can be called before the
    /// loop runs and returns a future), so the loop runs until that task completes.
    static let yieldFrom = TutorialExample(name: "yield-from", section: "@asyncio.coroutine 与 yield from") { environment in
        @Sendable func compute(_ x: Int, _ y: Int) async throws -> Int {
            environment.print("Compute \(x) + \(y) ...")
            try await sleep(environment.delay(1.0))
            return x + y
        }

        @Sendable func printSum(_ x: Int, _ y: Int) async throws {
            let result = try await compute(x, y)
            environment.print("\(x) + \(y) = \(result)")
        }

        let loop = try getEventLoop()
        let tasks: [@Sendable () async throws -> Void] = [{ try await printSum(1, 2) }, { try await printSum(3, 4) }]
        _ = try loop.runUntilComplete(loop.createTask { try await MultiLoop.gather(tasks) }.future)
        try loop.close()
    }
}
