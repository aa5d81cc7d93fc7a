import MultiLoop

extension TutorialExample {
    /// The tutorial's "Event Loop" example: `asyncio.run(main())`, which creates a loop, runs
    /// `main` on it (one second) and closes it.
    ///
    /// ```python
    /// import asyncio
    ///
    /// async def main():
    ///     print('Hello ...')
    ///     await asyncio.sleep(1)
    ///     print('... World!')
    ///
    /// asyncio.run(main())
    /// ```
    static let helloWorld = TutorialExample(name: "hello-world", section: "Event Loop") { environment in
        @Sendable func main() async throws {
            environment.print("Hello ...")
            try await sleep(environment.delay(1))
            environment.print("... World!")
        }

        try EventLoop.run(main)
    }
}
