// The runtime's floor: one `FloorExecutor` (BenchSupport) per "loop", a thread that only runs
// jobs from a local array. Tasks run there with `Task(executorPreference:)`; a switch is
// `Task.yield()`. It takes part in the task workloads only (tasks, gather, switch): it has no
// way to run a plain closure but as a task.

import BenchSupport

final class FloorSet: TaskLoopSet {
    let executors: [FloorExecutor]

    init(count: Int) {
        executors = (0..<count).map { _ in FloorExecutor() }
    }

    var count: Int { executors.count }

    func send(to index: Int, _ body: @escaping @Sendable () -> Void) {
        Task(executorPreference: executors[index]) { body() }
    }

    func sender(to index: Int) -> Sender {
        let executor = executors[index]
        return { body in Task(executorPreference: executor) { body() } }
    }

    func installSinks(_ sinks: [Sink]) throws {
        throw SweepError.setUp("the floor runs the task workloads only")
    }

    func shutdown() throws {
        for executor in executors { executor.shutdown() }
    }

    func runTasks(on index: Int, count: Int, batch: Int, done: @escaping @Sendable (Int) -> Void) {
        let executor = executors[index]
        Task(executorPreference: executor) {
            var completed = 0
            var tasks: [Task<Int, Never>] = []
            tasks.reserveCapacity(batch)
            while completed < count {
                for _ in 0..<min(batch, count - completed) {
                    tasks.append(Task(executorPreference: executor) { 1 })
                }
                for task in tasks { completed += await task.value }
                tasks.removeAll(keepingCapacity: true)
            }
            done(completed)
        }
    }

    func runSwitches(on index: Int, count: Int, done: @escaping @Sendable (Int) -> Void) {
        Task(executorPreference: executors[index]) {
            for _ in 0..<count { await Task.yield() }
            done(count)
        }
    }
}
