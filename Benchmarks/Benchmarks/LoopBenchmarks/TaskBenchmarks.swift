// Swift `async` code on a loop (issue: the async bridge), each next to its peer in the same run:
//
//   TaskSwitch.MultiLoop.sleep0       a loop task does N `try await sleep(0)` (N = 1M)
//   TaskSwitch.Floor.yield            the runtime's floor: `Task.yield()` in a task of a minimal
//                                     executor (BenchSupport's FloorExecutor: a thread running jobs
//                                     from a local array)
//   TaskSwitch.NIO.actorYield         `Task.yield()` in a task isolated to an actor whose executor is
//                                     a NIO event loop
//   TaskSwitch.Global.yield           a task of Swift's global executor does N `await Task.yield()`
//   AwaitDoneFuture.MultiLoop         a loop task awaits an already-completed future N times
//   TaskCreate.MultiLoop              a loop task creates and awaits N tasks of its loop (N = 1000 x 1000)
//   TaskCreate.Floor                  the same with `Task(executorPreference: floor) {}` on the floor
//   TaskCreate.Global                 a global-executor task creates and awaits N `Task {}`
//   Gather.MultiLoop                  a loop task gathers 1000 operations (`gather([ops])`), per task
//   Gather.Floor                      1000 tasks created on the floor, then each awaited, per task
//   CrossLoopRoundTrip.MultiLoop      a task on loop A: N times, B completes a future, A resumes
//   CrossLoopRoundTrip.NIO            on loop A: N times, B.submit {} then hop(to: A)

import Benchmark
import BenchSupport
import MultiLoop
import NIOCore
import NIOPosix

/// Two MultiLoop loops, each on its own thread.
final class TwoLoops: @unchecked Sendable {
    let a: MultiLoop.EventLoop
    let b: MultiLoop.EventLoop
    private var threads: [JoinableThread] = []

    init() throws {
        a = try EventLoop()
        b = try EventLoop()
        threads = [a, b].map { loop in JoinableThread { try? loop.runForever() } }
    }

    func shutdown() throws {
        for loop in [a, b] { loop.stop() }
        threads.forEach { $0.join() }
        try a.close()
        try b.close()
    }
}

func taskBenchmarks() {
    let tasks = Benchmark.Configuration(
        metrics: [.wallClock, .cpuTotal, .mallocCountTotal],
        warmupIterations: 1,
        scalingFactor: .mega,
        maxDuration: .seconds(3),
        maxIterations: 30,
        thresholds: mallocThresholds(operationsPerIteration: 1_000_000)
    )
    var kiloTasks = tasks
    kiloTasks.scalingFactor = .kilo
    kiloTasks.thresholds = mallocThresholds(operationsPerIteration: 1000)

    let loops = FixtureSlot<TwoLoops>()
    func onLoopA(_ name: String, _ configuration: Benchmark.Configuration,
                 _ body: @escaping @Sendable (TwoLoops, Int) async throws -> Void) {
        Benchmark(name, configuration: configuration) { benchmark in
            let fixture = loops.fixture!
            let count = benchmark.scaledIterations.count
            _ = try fixture.a.runCoroutineThreadsafe { try await body(fixture, count) }.wait(timeout: 60)
        } setup: {
            loops.fixture = try TwoLoops()
        } teardown: {
            try loops.fixture?.shutdown()
            loops.fixture = nil
        }
    }

    onLoopA("TaskSwitch.MultiLoop.sleep0", tasks) { _, count in
        for _ in 0..<count { try await sleep(0) }
    }
    let floor = FixtureSlot<FloorExecutor>()
    func onFloor(_ name: String, _ configuration: Benchmark.Configuration,
                 _ body: @escaping @Sendable (FloorExecutor, Int) async -> Void) {
        Benchmark(name, configuration: configuration) { benchmark in
            let executor = floor.fixture!
            let count = benchmark.scaledIterations.count
            await Task(executorPreference: executor) { await body(executor, count) }.value
        } setup: {
            floor.fixture = FloorExecutor()
        } teardown: {
            floor.fixture?.shutdown()
            floor.fixture = nil
        }
    }

    onFloor("TaskSwitch.Floor.yield", tasks) { _, count in
        for _ in 0..<count { await Task.yield() }
    }

    let nioActor = FixtureSlot<NIOYieldingActor>()
    Benchmark("TaskSwitch.NIO.actorYield", configuration: tasks) { benchmark in
        let actor = nioActor.fixture!
        await actor.yield(benchmark.scaledIterations.count)
    } setup: {
        nioActor.fixture = NIOYieldingActor(group: MultiThreadedEventLoopGroup(numberOfThreads: 1))
    } teardown: {
        try await nioActor.fixture?.group.shutdownGracefully()
        nioActor.fixture = nil
    }

    var globalTasks = tasks
    globalTasks.thresholds = mallocThresholds(operationsPerIteration: 1_000_000, tolerancePerOperation: 0.5)
    Benchmark("TaskSwitch.Global.yield", configuration: globalTasks) { benchmark in
        let count = benchmark.scaledIterations.count
        await Task.detached {
            for _ in 0..<count { await Task.yield() }
        }.value
    }

    onLoopA("AwaitDoneFuture.MultiLoop", tasks) { fixture, count in
        let future = fixture.a.createFuture(of: Int.self)
        try future.setResult(1)
        var sum = 0
        for _ in 0..<count { sum &+= try await future.value }
        precondition(sum == count)
    }

    onLoopA("TaskCreate.MultiLoop", kiloTasks) { fixture, count in
        var sum = 0
        for index in 0..<count { sum &+= try await fixture.a.createTask { index }.value }
        blackHole(sum)
    }
    onFloor("TaskCreate.Floor", kiloTasks) { executor, count in
        var sum = 0
        for index in 0..<count { sum &+= await Task(executorPreference: executor) { index }.value }
        blackHole(sum)
    }

    onLoopA("Gather.MultiLoop", kiloTasks) { _, count in
        let operations = [@Sendable () async throws -> Int](repeating: { 1 }, count: count)
        let values = try await gather(operations)
        precondition(values.count == count)
    }
    onFloor("Gather.Floor", kiloTasks) { executor, count in
        var tasks: [Task<Int, Never>] = []
        tasks.reserveCapacity(count)
        for _ in 0..<count { tasks.append(Task(executorPreference: executor) { 1 }) }
        var sum = 0
        for task in tasks { sum &+= await task.value }
        precondition(sum == count)
    }

    Benchmark("TaskCreate.Global", configuration: kiloTasks) { benchmark in
        let count = benchmark.scaledIterations.count
        await Task.detached {
            var sum = 0
            for index in 0..<count { sum &+= await Task { index }.value }
            blackHole(sum)
        }.value
    }

    onLoopA("CrossLoopRoundTrip.MultiLoop", kiloTasks) { fixture, count in
        for index in 0..<count {
            let future = fixture.b.createFuture(of: Int.self)
            try fixture.b.execute { try future.setResult(index) }
            let value = try await future.value
            precondition(value == index && fixture.a.isOnLoopThread)
        }
    }

    let nio = FixtureSlot<MultiThreadedEventLoopGroup>()
    Benchmark("CrossLoopRoundTrip.NIO", configuration: kiloTasks) { benchmark in
        let group = nio.fixture!
        let a = group.next(), b = group.next()
        let count = benchmark.scaledIterations.count
        @Sendable func step(_ index: Int) -> EventLoopFuture<Void> {
            guard index < count else { return a.makeSucceededVoidFuture() }
            return b.submit { index }.hop(to: a).flatMap { value in
                precondition(value == index)
                return step(index + 1)
            }
        }
        try a.flatSubmit { step(0) }.wait()
    } setup: {
        nio.fixture = MultiThreadedEventLoopGroup(numberOfThreads: 2)
    } teardown: {
        try await nio.fixture?.shutdownGracefully()
        nio.fixture = nil
    }
}

/// An actor whose serial executor is a NIO event loop: its tasks run on that loop's thread.
final actor NIOYieldingActor {
    nonisolated let group: MultiThreadedEventLoopGroup
    nonisolated let loop: any NIOCore.EventLoop

    init(group: MultiThreadedEventLoopGroup) {
        self.group = group
        loop = group.next()
    }

    nonisolated var unownedExecutor: UnownedSerialExecutor { loop.executor.asUnownedSerialExecutor() }

    func yield(_ count: Int) async {
        for _ in 0..<count { await Task.yield() }
    }
}
