// Uses each layer of MultiLoop through its public API, and exits non-zero if anything is off.
#if canImport(Glibc)
import Glibc
#endif
import MultiLoop

func check(_ condition: Bool, _ what: String) {
    if !condition {
        print("consumer: FAILED: \(what)")
        exit(1)
    }
}

// asyncio.run, tasks, gather, a timeout scope, a future completed from a callback.
let sum = try EventLoop.run { () async throws -> Int in
    let loop = try getRunningLoop()
    let task = loop.createTask(name: "forty") { 40 }
    let future = loop.createFuture(of: Int.self)
    try loop.callSoon { try future.setResult(2) }
    let (a, b) = try await gather({ @Sendable in try await task.value }, { @Sendable in try await future.value })
    let timedOut: Bool
    do {
        try await withTimeout(0) { _ in try await EventLoop.sleep(3_600) }
        timedOut = false
    } catch is TimeoutError {
        timedOut = true
    }
    check(timedOut, "withTimeout(0) throws TimeoutError")
    return a + b
}
check(sum == 42, "run returns 40 + 2")

// A loop group's threads, fed from this thread; a loop made and closed.
let loop = try newEventLoop()
let group = try LoopGroup(loops: 2, name: "consumer")
let submitted = try group.submit(to: 1) { 7 }
check(try submitted.wait(timeout: 30) == 7, "a loop group runs submitted work")
_ = try group.syncShutdownGracefully()
_ = try loop.close()

// The loop's API is declared in an internal module and re-exported: spelled through `MultiLoop`,
// it is the same type; the internal modules themselves are not this package's to import.
let qualified: MultiLoop.EventLoop = loop
check(qualified === loop, "MultiLoop.EventLoop names the loop type")
let handle: MultiLoop.TimerHandle? = nil
check(handle == nil && MultiLoop.EventLoopError.closed == .closed, "the loop's public types are reachable as MultiLoop.X")

// A generator driven with send.
let squares = try EventLoop.run { () async throws -> [Int] in
    let generator = Generator<Int, Int, Void> { context in
        var n = 1
        while n <= 3 {
            _ = try await context.yield(n * n)
            n += 1
        }
    }
    var values: [Int] = []
    for try await value in generator { values.append(value) }
    return values
}
check(squares == [1, 4, 9], "a generator yields 1, 4, 9")
// The README's example, as written there.
let answer = try EventLoop.run {
    try await withTimeout(5) { _ in
        try await gather({ @Sendable in 40 }, { @Sendable in 2 })
    }
}
check(answer.0 + answer.1 == 42, "the README's example returns 40 and 2")
print("consumer: ok")
