#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
import MultiLoop

/// `EventLoop.run { }` and `EventLoop.sleep(_:)`, the spellings of `run` and `sleep` that
/// nothing can shadow (docs/api-guidelines.md, "Aliases"), in a file that imports Glibc (whose
/// `sleep(UInt32)` the free `sleep` meets) and public MultiLoop only, from inside a type with
/// members of its own named `run` and `sleep`, as a command-line tool has.
@Suite("The unambiguous spellings EventLoop.run and EventLoop.sleep", .timeLimit(.minutes(5)))
struct UnambiguousSpellingTests {
    /// A command: inside it, an unqualified `run { }` or `sleep(1)` would mean these members.
    struct Command {
        func run() throws -> [String] {
            try EventLoop.run { () async throws -> [String] in
                let loop = try getRunningLoop()
                let order = Locked([String]())
                try loop.callSoon { order.withLock { $0.append("callback") } }
                try await EventLoop.sleep(.zero)  // yields to the loop exactly once
                order.withLock { $0.append("after sleep(.zero)") }
                let before = loop.time()
                try await EventLoop.sleep(0.001)
                if loop.time() >= before + 0.001 { order.withLock { $0.append("slept") } }
                try await EventLoop.sleep(0)
                order.withLock { $0.append(currentTask()?.name ?? "no task") }
                return order.value
            }
        }

        func sleep(_ seconds: UInt32) -> UInt32 { seconds }
    }

    @Test("inside a type with its own run and sleep, EventLoop.run and EventLoop.sleep are MultiLoop's")
    func insideACommand() async throws {
        let order = try await offThePool { Result { try Command().run() } }.get()
        #expect(order == ["callback", "after sleep(.zero)", "slept", "main"])
    }

    @Test("the module-qualified MultiLoop.run and MultiLoop.sleep still work; unqualified sleep in synchronous code is C's")
    func qualifiedAndC() async throws {
        let value = try await offThePool {
            Result {
                try MultiLoop.run { () async throws -> Int in
                    try await MultiLoop.sleep(.zero)
                    return 42
                }
            }
        }.get()
        #expect(value == 42)
        #expect(Self.synchronousSleep() == 0)
    }

    /// Synchronous code: an unqualified `sleep` is Glibc's `sleep(UInt32) -> UInt32`, picked
    /// without a word (the reason for `EventLoop.sleep`, which the compiler refuses here). Zero
    /// seconds: nothing blocks.
    static func synchronousSleep() -> UInt32 {
        sleep(0)
    }
}
