import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

/// A loop task is one object (its future, its name, its place in the loop's task list); the list
/// holds exactly the tasks that are not done; default names are unique across threads.
@Suite("Task bookkeeping", .timeLimit(.minutes(5)))
struct TaskBookkeepingTests {
    @Test("a task is its own future")
    func taskIsItsOwnFuture() throws {
        try run { () async throws -> Void in
            let task = try getRunningLoop().createTask { 1 }
            #expect(task.future === task)
            #expect(try await task.future.value == 1)
        }
    }

    @Test("allTasks() holds exactly the tasks not yet done, whatever order they finish in")
    func liveTaskListIsExact() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let gates = (0..<40).map { _ in loop.createFuture(of: Void.self) }
            let tasks = gates.map { gate in loop.createTask(name: "waits") { try await gate.value } }
            func live() -> Set<ObjectIdentifier> {
                Set(loop.allTasks().filter { $0.name == "waits" }.map { ObjectIdentifier($0) })
            }
            #expect(live() == Set(tasks.map { ObjectIdentifier($0) }))
            var pending = Array(tasks.indices)
            var random = StressRandom(seed: 12)
            while !pending.isEmpty {
                let index = pending.remove(at: random.below(pending.count))
                try gates[index].setResult(())
                await tasks[index].waitUntilDone()
                #expect(live() == Set(pending.map { ObjectIdentifier(tasks[$0]) }))
            }
            #expect(loop.statistics.tasksCreated == loop.statistics.tasksFinished + 1, "only this body is left")
        }
    }

    @Test("default names are unique across the loop thread and other threads")
    func defaultNamesAreUnique() throws {
        let owner = try FutureTesting.LoopThread()
        defer { owner.shutDown() }
        let loop = owner.loop
        let fromLoop = try owner.sync { (0..<600).map { _ in loop.createTask { }.name } }
        let fromThreads = Locked<[String]>([])
        JoinableThread.runAll(3) { _ in
            let names = (0..<300).map { _ in loop.createTask { }.name }
            fromThreads.withLock { $0 += names }
        }
        let all = fromLoop + fromThreads.value
        #expect(all.count == 1500)
        #expect(Set(all).count == 1500)
        #expect(all.allSatisfy { $0.hasPrefix("Task-") })
        // The loop thread takes numbers in blocks, in creation order within a block.
        let numbers = fromLoop.compactMap { Int($0.dropFirst("Task-".count)) }
        #expect(numbers.count == 600 && numbers == numbers.sorted())
    }
}
