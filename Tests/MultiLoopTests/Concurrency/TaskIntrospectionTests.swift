import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// current_task, all_tasks, set_name, a task awaiting itself, and the loop's task factory.
@Suite("Task introspection and factories", .timeLimit(.minutes(5)))
struct TaskIntrospectionTests {
    // CPython test_tasks: test_current_task, test_current_task_with_interleaving_tasks.
    @Test("currentTask() is the calling loop task, also in a timeout scope's or task group's body; nil elsewhere (async let included)")
    func currentTaskIdentity() throws {
        #expect(currentTask() == nil)
        let outcome = try run { () async throws -> [Bool] in
            let loop = try getRunningLoop()
            let gate = loop.createFuture(of: Void.self)
            let first = loop.createTask { () async throws -> Bool in
                let me = currentTask()
                try await gate.value  // the second task runs meanwhile
                return me === currentTask()
            }
            let second = loop.createTask { () async throws -> Bool in
                let me = currentTask()
                try gate.setResult(())
                async let child = currentTask() == nil  // a structured child is not a loop task
                let inScope = try await withTimeout(3_600) { _ in currentTask() === me }
                let inGroup = try await withLoopTaskGroup { _ in currentTask() === me }
                return await child && inScope && inGroup && me !== nil
            }
            let inCallback = loop.createFuture(of: Bool.self)
            try loop.callSoon { try inCallback.setResult(currentTask() == nil) }
            let selfSeen = loop.createTask(name: "named") { () async -> Bool in
                currentTask()?.name == "named"
            }
            let results = [try await first.value, try await second.value, try await inCallback.value]
            return results + [try await selfSeen.value, currentTask()?.name == "main"]
        }
        #expect(outcome == [true, true, true, true, true])
    }

    // CPython test_tasks: test_all_tasks (pending tasks only), and all_tasks() without a loop.
    @Test("allTasks lists the tasks not done yet; off a loop it needs one")
    func allTasksLists() throws {
        #expect(throws: EventLoopError.noRunningLoop) { _ = try allTasks() }
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let pending = loop.createTask(name: "pending") { () async throws -> Void in try await sleep(3_600) }
            let finished = loop.createTask(name: "finished") { 1 }
            _ = try await finished.value
            let names = Set(try allTasks().map(\.name))
            #expect(names == ["main", "pending"])
            #expect(Set(try allTasks(loop: loop).map(\.name)) == names)
            pending.cancel()
            await pending.waitUntilDone()
            #expect(try allTasks().map(\.name) == ["main"])
        }
    }

    // CPython test_tasks: test_task_set_name_pylong, test_task_repr_name.
    @Test("setName renames a task, from any thread; the description shows the name")
    func setName() throws {
        let loop = try EventLoop()
        let task = loop.createTask(name: "first") { 1 }
        #expect(task.name == "first")
        JoinableThread.runAll(1) { _ in task.setName("renamed") }
        #expect(task.name == "renamed")
        #expect(task.description.hasPrefix("<Task renamed "))
        let unnamed = loop.createTask { 2 }
        #expect(unnamed.name.hasPrefix("Task-"))
        unnamed.setName("given")
        #expect(unnamed.name == "given")
        _ = try loop.runUntilComplete(task.future)
        _ = try loop.runUntilComplete(unnamed.future)
        try loop.close()
    }

    // asyncio tasks.py, Task.__step: "Task cannot await on itself".
    @Test("a task awaiting itself fails at once with a typed error instead of hanging")
    func awaitItself() throws {
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            let box = Locked<LoopTask<Int>?>(nil)
            let started = loop.createFuture(of: Void.self)
            let task = loop.createTask { () async throws -> Int in
                try await started.value
                let me = try #require(box.value)
                do {
                    return try await me.value
                } catch let error as LoopTaskError {
                    guard case .awaitsItself = error else { return -2 }
                    return -1
                } catch {
                    return -3  // the watchdog's cancel: the await was not refused
                }
            }
            box.withLock { $0 = task }
            // Bounded: without the refusal the watchdog ends the wait after 5 s, and the
            // expectation below fails.
            let watchdog = try loop.callLater(5) { task.cancel() }
            defer { watchdog.cancel() }
            try started.setResult(())
            #expect(try await task.value == -1)
        }
    }

    // CPython test_base_events: test_set_task_factory; test_eager_task_factory.
    @Test("a task factory makes every task createTask starts; nil restores the default")
    func taskFactory() throws {
        struct Recording: LoopTaskFactory {
            let names: Locked<[String]>
            func createTask<Value: Sendable>(on loop: EventLoop, name: String?, eager: Bool,
                                            _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
                names.withLock { $0.append(name ?? "nil") }
                return loop.makeTask(name: "made-\(name ?? "anon")", eager: eager, operation)
            }
        }
        let names = Locked<[String]>([])
        try run { () async throws -> Void in
            let loop = try getRunningLoop()
            #expect(loop.taskFactory == nil)
            loop.setTaskFactory(Recording(names: names))
            #expect(loop.taskFactory is Recording)
            let task = loop.createTask(name: "a") { 1 }
            #expect(task.name == "made-a")
            _ = try await gather([{ @Sendable () async throws -> Int in 2 }])
            loop.setTaskFactory(nil)
            #expect(loop.taskFactory == nil)
            #expect(loop.createTask(name: "b") { 3 }.name == "b")
            _ = try await task.value
        }
        #expect(names.value == ["a", "nil"], "gather's children go through the factory too")
    }

    // CPython test_eager_task_factory: test_eager_task_factory_set / the eager start.
    @Test("EagerTaskFactory starts tasks created on the loop thread at once, until their first suspension")
    func eagerFactory() throws {
        let order = try run { () async throws -> [String] in
            let loop = try getRunningLoop()
            let log = Locked<[String]>([])
            loop.setTaskFactory(EagerTaskFactory())
            let task = loop.createTask { () async throws -> Void in
                log.withLock { $0.append("body starts") }
                try await sleep(0)
                log.withLock { $0.append("body ends") }
            }
            log.withLock { $0.append("createTask returned") }
            try await task.value
            return log.value
        }
        #expect(order == ["body starts", "createTask returned", "body ends"])
    }
}
