import MultiLoop

/// What the tasks of the tasks scenario do, by role: lock sections, semaphore sections, queue
/// producers and consumers, and each loop's finale.
extension TasksScenario {
    /// One task's whole life, on its loop.
    static func work(_ worker: Worker, _ state: LoopState, _ shared: Shared) async {
        worker.started.set()
        var tally = TasksChecker.TaskTally(role: worker.role)
        defer {
            tally.finished = true
            state.record.tallies[worker.slot] = tally
            worker.finished.set()
        }
        do {
            switch worker.role {
            case .locker: try await lockSections(state, shared, &tally)
            case .semaphore: try await semaphoreSections(state, shared, &tally)
            case .producer: try await produce(state, shared, &tally)
            case .consumer: try await consume(state, shared, &tally)
            }
            if Task.isCancelled { tally.cancelled = true }
        } catch is CancellationError {
            tally.cancelled = true
        } catch {
            shared.context.violation("task failed", loop: state.index, producer: worker.slot,
                                     expected: "only cancellations", seen: "\(error)")
        }
    }

    static func lockSections(_ state: LoopState, _ shared: Shared, _ tally: inout TasksChecker.TaskTally) async throws {
        while try await state.claim(shared.context) {
            var completed = false
            defer { state.settle(completed: completed) }
            let stamp = monotonicNanoseconds()
            try await state.lock.withLock {
                state.latency.record(nanoseconds: monotonicNanoseconds() - stamp)
                state.checkThread()
                state.inside += 1
                defer { state.inside -= 1 }
                state.record.maxInsideLock = max(state.record.maxInsideLock, state.inside)
                try await EventLoop.sleep(0)  // others run meanwhile; none may get in
                state.record.maxInsideLock = max(state.record.maxInsideLock, state.inside)
                state.record.lockSections += 1
                tally.lockSections += 1
                completed = true
            }
            shared.sections.add()
            shared.activity.add()
            shared.context.progress.addOperations(1)
        }
    }

    static func semaphoreSections(_ state: LoopState, _ shared: Shared,
                                  _ tally: inout TasksChecker.TaskTally) async throws {
        while try await state.claim(shared.context) {
            var completed = false
            defer { state.settle(completed: completed) }
            try await state.semaphore.withPermit {
                state.checkThread()
                state.holders += 1
                defer { state.holders -= 1 }
                state.record.maxSemaphoreHolders = max(state.record.maxSemaphoreHolders, state.holders)
                try await EventLoop.sleep(0)
                state.record.maxSemaphoreHolders = max(state.record.maxSemaphoreHolders, state.holders)
                state.record.semaphoreSections += 1
                tally.semaphoreSections += 1
                completed = true
            }
            shared.sections.add()
            shared.activity.add()
            shared.context.progress.addOperations(1)
        }
    }

    static func produce(_ state: LoopState, _ shared: Shared, _ tally: inout TasksChecker.TaskTally) async throws {
        while !state.stopping(shared.context) {
            let item = state.record.putOutcomes.count
            state.record.putOutcomes.append(.pending)
            state.record.getCounts.append(0)
            do {
                try await state.queue.put(item)
            } catch {
                state.record.putOutcomes[item] = .cancelled  // still waiting: the item never entered
                throw error
            }
            state.checkThread()
            state.record.putOutcomes[item] = .put
            state.record.itemsPut += 1
            tally.puts += 1
            shared.activity.add()
        }
    }

    static func consume(_ state: LoopState, _ shared: Shared, _ tally: inout TasksChecker.TaskTally) async throws {
        while !Task.isCancelled {
            let item = try await state.queue.get()
            state.checkThread()
            state.took(item)
            state.record.itemsGot += 1
            tally.gets += 1
            try state.queue.taskDone()
            shared.activity.add()
        }
    }

    /// Once every task is done, on the loop: takes what is left in the queue, and checks that
    /// `join()` finds every item marked done.
    static func finale(_ state: LoopState) async throws {
        while let item = try? state.queue.getNowait() {
            state.took(item)
            state.record.itemsDrained += 1
            try state.queue.taskDone()
        }
        let joiner = try getRunningLoop().createTask { try await state.queue.join() }
        for _ in 0..<200 where !joiner.isDone { try await EventLoop.sleep(0.001) }
        state.record.queueJoined = joiner.isDone
        if !joiner.isDone {
            joiner.cancel()
            await joiner.waitUntilDone()
        }
    }
}
