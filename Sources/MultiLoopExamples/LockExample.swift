import MultiLoop

extension TutorialExample {
    /// The tutorial's "Lock" section, made runnable: three tasks each read a shared counter,
    /// wait 0.1 s, and write it back plus one, inside `async with lock`. The lock makes each
    /// read-wait-write whole, so no increment is lost (without it all three would read 0 and the
    /// counter would end at 1), and the tasks get the lock in the order they asked for it: 0.3 s.
    ///
    /// The tutorial shows only `async with lock:` around "access shared state"; this is the
    /// Python the example translates, and what it prints:
    ///
    /// ```python
    /// import asyncio
    ///
    /// counter = 0
    ///
    /// async def add_one(lock, name):
    ///     global counter
    ///     async with lock:
    ///         # access shared state
    ///         value = counter
    ///         await asyncio.sleep(0.1)
    ///         counter = value + 1
    ///         print(f"{name}: {value} -> {counter}")
    ///
    /// async def main():
    ///     lock = asyncio.Lock()
    ///     await asyncio.gather(add_one(lock, "A"), add_one(lock, "B"), add_one(lock, "C"))
    ///     print(f"counter = {counter}")
    ///
    /// asyncio.run(main())
    /// ```
    ///
    /// ```text
    /// A: 0 -> 1
    /// B: 1 -> 2
    /// C: 2 -> 3
    /// counter = 3
    /// ```
    static let lock = TutorialExample(name: "lock", section: "Lock") { environment in
        /// The shared state: touched only by tasks of the example's loop (one thread), and only
        /// while they hold the lock.
        final class Counter: @unchecked Sendable {
            var value = 0
        }
        let counter = Counter()

        @Sendable func addOne(_ lock: Lock, _ name: String) async throws {
            try await lock.withLock {
                // access shared state
                let value = counter.value
                try await sleep(environment.delay(0.1))
                counter.value = value + 1
                environment.print("\(name): \(value) -> \(counter.value)")
            }
        }

        @Sendable func main() async throws {
            let lock = Lock()
            _ = try await MultiLoop.gather({ @Sendable in try await addOne(lock, "A") },
                                           { @Sendable in try await addOne(lock, "B") },
                                           { @Sendable in try await addOne(lock, "C") })
            environment.print("counter = \(counter.value)")
        }

        try EventLoop.run(main)
    }
}
