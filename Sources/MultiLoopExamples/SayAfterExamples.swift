import MultiLoop

extension TutorialExample {
    /// `say_after` of the tutorial's "Task" section: returns `what` after `delay` seconds.
    @Sendable
    private static func sayAfter(_ delay: Double, _ what: String, _ environment: Environment) async throws -> String {
        try await sleep(environment.delay(delay))
        return what
    }

    /// The tutorial's first "Task" example: two `say_after` awaited one after the other, 2 s
    /// then 1 s: three seconds between the started and finished times.
    ///
    /// ```python
    /// import asyncio
    /// import time
    ///
    /// async def say_after(delay, what):
    ///     await asyncio.sleep(delay)
    ///     return what
    ///
    /// async def main():
    ///     print(f"started at {time.strftime('%X')}")
    ///     print(await say_after(2, 'hello'))
    ///     print(await say_after(1, 'world'))
    ///     print(f"finished at {time.strftime('%X')}")
    ///
    /// asyncio.run(main())
    /// ```
    static let sayAfter = TutorialExample(name: "say-after", section: "Task") { environment in
        @Sendable func main() async throws {
            environment.print("started at \(wallClockTime())")
            environment.print(try await sayAfter(2, "hello", environment))
            environment.print(try await sayAfter(1, "world", environment))
            environment.print("finished at \(wallClockTime())")
        }

        try EventLoop.run(main)
    }

    /// The tutorial's `create_task` example: both `say_after` start as tasks before either is
    /// awaited, so they wait at the same time: two seconds between the started and finished
    /// times, one less than `say-after`.
    ///
    /// ```python
    /// async def main():
    ///     task1 = asyncio.create_task(say_after(2, 'hello'))
    ///     task2 = asyncio.create_task(say_after(1, 'world'))
    ///     print(f"started at {time.strftime('%X')}")
    ///     print(await task1)
    ///     print(await task2)
    ///     print(f"finished at {time.strftime('%X')}")
    ///
    /// asyncio.run(main())
    /// ```
    ///
    /// `asyncio.create_task` uses the running loop; in Swift that is
    /// `getRunningLoop().createTask`.
    static let createTask = TutorialExample(name: "create-task", section: "Task") { environment in
        @Sendable func main() async throws {
            let task1 = try getRunningLoop().createTask { try await sayAfter(2, "hello", environment) }
            let task2 = try getRunningLoop().createTask { try await sayAfter(1, "world", environment) }
            environment.print("started at \(wallClockTime())")
            environment.print(try await task1.value)
            environment.print(try await task2.value)
            environment.print("finished at \(wallClockTime())")
        }

        try EventLoop.run(main)
    }
}
