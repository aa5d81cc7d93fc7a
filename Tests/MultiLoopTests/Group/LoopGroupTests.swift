import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

@Suite("LoopGroup: threads, registry, picking a loop, submitting work", .timeLimit(.minutes(5)))
struct LoopGroupTests {
    @Test("each loop runs on its own thread, is that thread's running loop and its event loop")
    func loopsOnTheirOwnThreads() throws {
        let group = try LoopGroup(loops: 3, name: "reg")
        defer { _ = try? group.syncShutdownGracefully() }
        for (index, loop) in group.loops.enumerated() {
            let seen = try group.submit(to: index) { () throws -> [Bool] in
                [try getRunningLoop() === loop, try getEventLoop() === loop, loop.isOnLoopThread]
            }.wait(timeout: 60)
            #expect(seen == [true, true, true])
        }
        #expect(Set(group.threadIDs).count == 3)
        let onAnyLoopThread = group.loops.contains { $0.isOnLoopThread }
        #expect(!onAnyLoopThread)
    }

    @Test("threads are named ml-<group>-<i>, visible in /proc/self/task/*/comm, and gone after shutdown")
    func threadNames() throws {
        let group = try LoopGroup(loops: 3, name: "names")
        let expected = (0..<3).map { "ml-names-\($0)" }
        let names = threadNamesOfThisProcess()
        for name in expected { #expect(names.contains(name), "\(name) in \(names)") }
        for (index, id) in group.threadIDs.enumerated() {
            #expect(readSmallFile("/proc/self/task/\(id)/comm") == expected[index] + "\n")
        }
        try group.syncShutdownGracefully()
        let after = threadNamesOfThisProcess()
        for name in expected { #expect(!after.contains(name)) }
    }

    @Test("a long group name is shortened to Linux's 15 bytes, the index kept")
    func longNames() throws {
        #expect(LoopGroup.threadName(group: "averyverylongname", index: 12) == "ml-averyvery-12")
        #expect(LoopGroup.threadName(group: "ü/x y", index: 3) == "ml-xy-3")
        let group = try LoopGroup(loops: 1, name: "averyverylongname")
        defer { _ = try? group.syncShutdownGracefully() }
        #expect(readSmallFile("/proc/self/task/\(group.threadIDs[0])/comm") == "ml-averyveryl-0\n")
    }

    @Test("default size: the CPUs of the affinity mask; a group needs at least one loop")
    func sizes() throws {
        let group = try LoopGroup()
        defer { _ = try? group.syncShutdownGracefully() }
        #expect(group.count == callingThreadCPUs().count)
        #expect(throws: LoopGroupError.invalidLoopCount(0)) { try LoopGroup(loops: 0) }
    }

    @Test("pinToCores pins loop i to the i-th usable CPU (round-robin beyond them)")
    func pinning() throws {
        let cpus = callingThreadCPUs()
        let group = try LoopGroup(loops: cpus.count + 1, name: "pin", pinToCores: true)
        defer { _ = try? group.syncShutdownGracefully() }
        let expected = (0..<group.count).map { cpus[$0 % cpus.count] }
        #expect(group.pinnedCPUs == expected)
        for index in 0..<group.count {
            let affinity = try group.submit(to: index) { callingThreadCPUs() }.wait(timeout: 60)
            #expect(affinity == [expected[index]])
            let status = readSmallFile("/proc/self/task/\(group.threadIDs[index])/status") ?? ""
            #expect(status.contains("Cpus_allowed_list:\t\(expected[index])\n"))
        }
        let unpinned = try LoopGroup(loops: 1, name: "nopin")
        defer { _ = try? unpinned.syncShutdownGracefully() }
        #expect(unpinned.pinnedCPUs == nil)
        #expect(try unpinned.submit { callingThreadCPUs() }.wait(timeout: 60) == cpus)
    }

    @Test("next() is round-robin; any() prefers the calling loop; loop(at:) and index(of:)")
    func picking() throws {
        let group = try LoopGroup(loops: 3, name: "pick")
        defer { _ = try? group.syncShutdownGracefully() }
        let picked = (0..<9).map { _ in group.index(of: group.next())! }
        let start = picked[0]
        #expect(picked == (0..<9).map { (start + $0) % 3 })
        for index in 0..<3 {
            let chosen = try group.submit(to: index) { group.index(of: group.any()) }.wait(timeout: 60)
            #expect(chosen == index)
        }
        #expect(group.index(of: group.any()) != nil)
        #expect(try group.loop(at: 2) === group.loops[2])
        #expect(throws: LoopGroupError.indexOutOfRange(3, count: 3)) { try group.loop(at: 3) }
        #expect(throws: LoopGroupError.indexOutOfRange(-1, count: 3)) { try group.submit(to: -1) { 1 } }
        let stranger = try EventLoop()
        #expect(group.index(of: stranger) == nil)
    }

    @Test("submit returns the closure's value or error; submitTask runs a task of the loop")
    func submitting() throws {
        struct Boom: Error, Equatable {}
        let group = try LoopGroup(loops: 2, name: "sub")
        defer { _ = try? group.syncShutdownGracefully() }
        #expect(try group.submit { 6 * 7 }.wait(timeout: 60) == 42)
        #expect(throws: Boom()) { try group.submit { () throws -> Int in throw Boom() }.wait(timeout: 60) }
        let onItsLoop = try group.submitTask(to: 1) { () async throws -> Bool in
            try await sleep(0.001)
            return try getRunningLoop() === group.loops[1]
        }
        #expect(try onItsLoop.wait(timeout: 60))
        #expect(throws: Boom()) {
            try group.submitTask { () async throws -> Int in throw Boom() }.wait(timeout: 60)
        }
    }

    @Test("cancelling a submitTask future cancels the task")
    func cancellingASubmittedTask() throws {
        let group = try LoopGroup(loops: 1, name: "cxl")
        defer { _ = try? group.syncShutdownGracefully() }
        let started = FutureTesting.Event()
        let future = try group.submitTask { () async throws -> Int in
            started.signal()
            try await sleep(3600)
            return 1
        }
        #expect(started.wait())
        #expect(future.cancel())
        #expect(throws: CancelledError.self) { try future.wait(timeout: 60) }
        try settle(group.loops[0])
        #expect(group.loops[0].allTasks().isEmpty)
    }

    @Test("a chain of futures hops through every loop of the group and back", arguments: 0..<3)
    func hopThroughEveryLoop(round: Int) throws {
        let group = try LoopGroup(loops: 4, name: "hop")
        defer { _ = try? group.syncShutdownGracefully() }
        let trail = try group.submitTask(to: 0) { () async throws -> [Int] in
            var trail = [group.index(of: try getRunningLoop())!]
            for hop in [1, 2, 3, 0] {
                // Completed on loop `hop`, awaited here (a task of loop 0).
                let there = try await group.submit(to: hop) { group.index(of: try getRunningLoop())! }.value
                trail.append(there)
                trail.append(group.index(of: try getRunningLoop())!)
            }
            return trail
        }.wait(timeout: 60)
        #expect(trail == [0, 1, 0, 2, 0, 3, 0, 0, 0])
    }

    @Test("a loop's stop() does not end its thread: the group runs it again")
    func userStopDoesNotEndTheLoop() throws {
        let group = try LoopGroup(loops: 1, name: "stop")
        defer { _ = try? group.syncShutdownGracefully() }
        try group.submit { group.loops[0].stop() }.wait(timeout: 60)
        #expect(try group.submit { 1 }.wait(timeout: 60) == 1)
    }

    @Test("statistics: per loop and total, tasks included")
    func statistics() throws {
        let group = try LoopGroup(loops: 2, name: "stat")
        for _ in 0..<100 { _ = try group.submit(to: 0) { 0 } }
        for _ in 0..<10 { _ = try group.submitTask(to: 1) { 0 } }
        _ = try group.submit(to: 0) { 0 }.wait(timeout: 60)
        try group.syncShutdownGracefully()
        let statistics = group.statistics
        #expect(statistics.loops.count == 2)
        #expect(statistics.loops[0].callbacksRun >= 101)
        #expect(statistics.loops[1].tasksCreated == 10)
        #expect(statistics.loops[1].tasksFinished == 10)
        #expect(statistics.total.callbacksRun == statistics.loops[0].callbacksRun + statistics.loops[1].callbacksRun)
        #expect(statistics.total.largestBatch == statistics.loops.map(\.largestBatch).max())
        #expect(statistics.total.eventfdWrites <= statistics.total.wakeups + 2)
    }

    @Test("the shared group is one, lazily created, and cannot be shut down")
    func sharedGroup() throws {
        let shared = try LoopGroup.shared
        #expect(try LoopGroup.shared === shared)
        #expect(shared.count == callingThreadCPUs().count)
        #expect(try shared.submit { 5 }.wait(timeout: 60) == 5)
        #expect(throws: LoopGroupError.sharedGroupCannotShutDown) { try shared.syncShutdownGracefully() }
        #expect(shared.isAcceptingWork)
    }
}
