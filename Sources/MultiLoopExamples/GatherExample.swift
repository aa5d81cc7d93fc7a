import MultiLoop

extension TutorialExample {
    /// The tutorial's "gather" example: two coroutines (1 s and 2 s) run at once; their results
    /// come back as a list, in argument order, after the longer one: two seconds in all.
    ///
    /// ```python
    /// import asyncio
    ///
    /// async def coroutine_1():
    ///     await asyncio.sleep(1)
    ///     return 1
    ///
    /// async def coroutine_2():
    ///     await asyncio.sleep(2)
    ///     return 2
    ///
    /// async def main():
    ///     results = await asyncio.gather(coroutine_1(), coroutine_2())
    ///     print(results)
    ///
    /// asyncio.run(main())
    /// ```
    static let gather = TutorialExample(name: "gather", section: "gather") { environment in
        @Sendable func coroutine1() async throws -> Int {
            try await sleep(environment.delay(1))
            return 1
        }

        @Sendable func coroutine2() async throws -> Int {
            try await sleep(environment.delay(2))
            return 2
        }

        @Sendable func main() async throws {
            let results = try await MultiLoop.gather([coroutine1, coroutine2])
            environment.print("\(results)")
        }

        try EventLoop.run(main)
    }
}
