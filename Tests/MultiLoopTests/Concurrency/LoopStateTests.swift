import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

/// A loop has one `LoopState` (its `EventLoopAttachment`), made by whichever thread asks first:
/// threads that ask at the same moment all get that one, so no task, factory or failure is filed
/// in a second state that nobody reads.
@Suite("The loop's attachment (LoopState)", .timeLimit(.minutes(5)))
struct LoopStateTests {
    @Test("threads asking a new loop for its state at once all get the same one", arguments: 0..<4)
    func oneStatePerLoop(batch: Int) throws {
        let threads = 4
        for _ in 0..<50 {
            let loop = try EventLoop()
            let ready = StressCounter()
            let go = StressFlag()
            let seen = Locked<[ObjectIdentifier]>([])
            let askers = (0..<threads).map { _ in
                JoinableThread {
                    ready.add()
                    while !go.isSet { ml_cpu_relax() }
                    let state = ObjectIdentifier(loop.state)
                    seen.withLock { $0.append(state) }
                }
            }
            while ready.value < threads { ml_cpu_relax() }
            go.set()
            askers.forEach { $0.join() }
            #expect(seen.value.count == threads)
            #expect(Set(seen.value).count == 1, "one loop, \(Set(seen.value).count) states")
            #expect(Set(seen.value) == [ObjectIdentifier(loop.state)])
            try loop.close()
        }
    }

    @Test("tasks created from several threads on a new loop are all in its task list")
    func tasksFromSeveralThreadsAreAllListed() throws {
        let threads = 4
        let perThread = 25
        for _ in 0..<20 {
            let loop = try EventLoop()
            let gate = loop.createFuture(of: Void.self)
            let created = Locked<[LoopTask<Void>]>([])
            let ready = StressCounter()
            let go = StressFlag()
            let creators = (0..<threads).map { _ in
                JoinableThread {
                    ready.add()
                    while !go.isSet { ml_cpu_relax() }
                    for _ in 0..<perThread {
                        let task = loop.createTask(name: "listed") { try await gate.value }
                        created.withLock { $0.append(task) }
                    }
                }
            }
            while ready.value < threads { ml_cpu_relax() }
            go.set()
            creators.forEach { $0.join() }
            // Each task was filed in the task list by the thread that created it.
            let listed = Set(loop.allTasks().map { ObjectIdentifier($0) })
            let missing = Set(created.value.map { ObjectIdentifier($0) }).subtracting(listed)
            #expect(missing.isEmpty, "\(missing.count) of the tasks created are not in the loop's list")
            #expect(listed.count == threads * perThread)
            try gate.setResult(())
            let tasks = created.value
            try loop.runUntilComplete(loop.createTask { for task in tasks { await task.waitUntilDone() } })
            #expect(loop.allTasks().isEmpty)
            try loop.close()
        }
    }
}
