#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// addReader / addWriter and their removal: CPython's test_events (test_reader_callback,
/// test_writer_callback, test_add_fds_after_closing, test_remove_fds_after_closing) and
/// test_selector_events (replacing a reader cancels the old handle), against real sockets.
@Suite("fd readiness: addReader / addWriter", .timeLimit(.minutes(5)))
struct ReadinessTests {
    @Test("a reader gets every byte, in order, and removes itself at EOF")
    func readerCallback() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let received = LoopConfined([UInt8]())
        let done = loop.createFuture(of: Bool.self)
        let (reader, writer) = (pair.first, pair.second)
        try loop.addReader(reader) {
            guard let data = readAvailable(reader) else { return }
            if data.isEmpty {
                try done.setResult(loop.removeReader(reader))
            } else {
                received.value += data
            }
        }
        try withLoopOnThread(loop) {
            writeBytes(writer, Array("abc".utf8))
            try settle(loop)
            writeBytes(writer, Array("def".utf8))
            pair.closeSecond()
            let removed = try done.wait(timeout: 10)
            #expect(removed, "removeReader inside the callback finds it")
        }
        #expect(received.value == Array("abcdef".utf8))
        #expect(!loop.hasReader(reader))
    }

    @Test("a writer runs when the socket has room; removal answers true, then false")
    func writerCallback() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let ran = loop.createFuture(of: Int.self)
        let writerFD = pair.second
        try loop.addWriter(writerFD) {
            let count = writeBytes(writerFD, [UInt8](repeating: 0x78, count: 1024))
            if !ran.isDone { try ran.setResult(count) }
        }
        try withLoopOnThread(loop) {
            let written = try ran.wait(timeout: 10)
            #expect(written == 1024)
            #expect(loop.removeWriter(writerFD))
            #expect(!loop.removeWriter(writerFD))
        }
        #expect(readAvailable(pair.first)?.count ?? 0 >= 1024)
    }

    @Test("level-triggered: a reader that does not read is called again in each iteration")
    func levelTriggered() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let iterations = LoopConfined([UInt64]())
        let done = loop.createFuture(of: Void.self)
        let fd = pair.first
        writeBytes(pair.second, [1])
        try loop.addReader(fd) {
            iterations.value.append(loop.statistics.iterations)
            if iterations.value.count == 5 {
                loop.removeReader(fd)
                try done.setResult(())
            }
        }
        try withLoopOnThread(loop) { try done.wait(timeout: 10) }
        #expect(iterations.value.count == 5)
        // Once per iteration, never twice in one.
        #expect(Set(iterations.value).count == 5)
        #expect(readAvailable(fd) == [1], "the byte is still there: nobody read it")
    }

    @Test("a second addReader replaces the first: its handle is cancelled and never called")
    func replacingCancelsTheOldHandle() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let fd = pair.first
        let firstCalls = LoopConfined(0)
        let done = loop.createFuture(of: Void.self)
        let first = try loop.addReader(fd) { firstCalls.value += 1 }
        let second = try loop.addReader(fd) {
            _ = readAvailable(fd)
            loop.removeReader(fd)
            try done.setResult(())
        }
        #expect(first.isCancelled)
        #expect(!second.isCancelled)
        writeBytes(pair.second, [7])
        try withLoopOnThread(loop) { try done.wait(timeout: 10) }
        #expect(firstCalls.value == 0)
        #expect(second.isCancelled, "removal cancels the handle")
    }

    @Test("a reader and a writer of one fd are independent")
    func readerAndWriterAreIndependent() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let fd = pair.first
        try loop.addReader(fd) {}
        let writer = try loop.addWriter(fd) {}
        #expect(loop.removeReader(fd))
        #expect(loop.hasWriter(fd))
        #expect(!writer.isCancelled)
        #expect(!loop.removeReader(fd))
        #expect(loop.removeWriter(fd))
        try loop.close()
    }

    @Test("close removes every reader and writer without calling them, and reports them")
    func closeRemovesEverything() throws {
        let loop = try EventLoop()
        let pairs = try (0..<3).map { _ in try SocketPair() }
        let calls = LoopConfined(0)
        var handles: [Handle] = []
        for pair in pairs {
            handles.append(try loop.addReader(pair.first) { calls.value += 1 })
            writeBytes(pair.second, [1])  // ready, but the loop never runs
        }
        handles.append(try loop.addWriter(pairs[0].second) { calls.value += 1 })
        let report = try loop.close()
        #expect(report.readersRemoved == 3)
        #expect(report.writersRemoved == 1)
        let allCancelled = handles.allSatisfy { $0.isCancelled }
        #expect(allCancelled)
        #expect(calls.value == 0)
        #expect(!loop.removeReader(pairs[0].first), "asyncio: remove_reader on a closed loop is False")
        #expect(!loop.removeWriter(pairs[0].second))
    }

    @Test("addReader and addWriter after close throw .closed")
    func addAfterClose() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        try loop.close()
        #expect(throws: EventLoopError.closed) { try loop.addReader(pair.first) {} }
        #expect(throws: EventLoopError.closed) { try loop.addWriter(pair.second) {} }
    }

    @Test("a negative, closed or unpollable fd is a typed error, and leaves nothing registered")
    func badFileDescriptors() throws {
        let loop = try EventLoop()
        #expect(throws: EventLoopError.badFileDescriptor(-1)) { try loop.addReader(-1) {} }
        // A number no fd can have (beyond any descriptor limit): a closed fd's own number may be
        // reused at once by another suite, between any check and the call. And the fd table
        // must not grow to it first (2^31 entries).
        let neverOpen = Int32.max
        #expect(throws: EventLoopError.badFileDescriptor(neverOpen)) { try loop.addReader(neverOpen) {} }
        #expect(throws: EventLoopError.badFileDescriptor(neverOpen)) { try loop.addWriter(neverOpen) {} }
        #expect(!loop.hasReader(neverOpen))
        let path = "/tmp/multiloop-readiness-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fileFD = open(path, O_CREAT | O_RDWR | O_CLOEXEC, 0o600)
        #expect(fileFD >= 0)
        defer { Glibc.close(fileFD); unlink(path) }
        #expect(throws: EventLoopError.unsupportedFileDescriptor(fileFD)) { try loop.addReader(fileFD) {} }
        #expect(!loop.hasReader(fileFD))
        #expect(!loop.removeReader(fileFD))
        let report = try loop.close()
        #expect(report.readersRemoved == 0)
    }

    @Test("an error thrown by a reader goes to the exception handler; the reader stays")
    func throwingReader() throws {
        let loop = try EventLoop()
        let log = ErrorLog()
        log.install(on: loop)
        let pair = try SocketPair()
        let fd = pair.first
        let calls = LoopConfined(0)
        let done = loop.createFuture(of: Void.self)
        writeBytes(pair.second, [1])
        try loop.addReader(fd) {
            calls.value += 1
            if calls.value == 2 {
                loop.removeReader(fd)
                try done.setResult(())
            }
            throw TestError(code: calls.value)
        }
        try withLoopOnThread(loop) { try done.wait(timeout: 10) }
        #expect(calls.value == 2)
        #expect(log.all.map { $0.error as? TestError } == [TestError(code: 1), TestError(code: 2)])
        // The reports hold the handle, whose closure holds the loop, which holds the handler,
        // which holds the log: break that cycle (LeakSanitizer, `make asan`).
        loop.setExceptionHandler(nil)
    }

    @Test("a peer's close wakes the reader, which reads EOF")
    func hangUpWakesTheReader() throws {
        let loop = try EventLoop()
        let pair = try SocketPair()
        let fd = pair.first
        let eof = loop.createFuture(of: Bool.self)
        try loop.addReader(fd) {
            loop.removeReader(fd)
            try eof.setResult(readAvailable(fd) == [])
        }
        try withLoopOnThread(loop) {
            pair.closeSecond()
            let sawEOF = try eof.wait(timeout: 10)
            #expect(sawEOF)
        }
    }

    @Test("a reader removed by another callback of the same iteration does not run", arguments: 0..<5)
    func removalInTheSameIteration(round: Int) throws {
        let loop = try EventLoop()
        let pairs = try [SocketPair(), SocketPair()]
        let fds = pairs.map(\.first)
        let calls = LoopConfined(0)
        let done = loop.createFuture(of: Void.self)
        for (index, fd) in fds.enumerated() {
            try loop.addReader(fd) {
                calls.value += 1
                // Remove both: the other one is ready in this same iteration.
                loop.removeReader(fd)
                loop.removeReader(fds[1 - index])
                try loop.callSoon { try? done.setResult(()) }
            }
        }
        for pair in pairs { writeBytes(pair.second, [1]) }
        try withLoopOnThread(loop) {
            try done.wait(timeout: 10)
            try settle(loop)
        }
        #expect(calls.value == 1)
    }

    @Test("more ready fds than one epoll_wait returns: every reader runs")
    func moreReadyFDsThanOneWait() throws {
        let loop = try EventLoop()
        let count = Int(IOWatchers.eventCapacity) + 44
        let pairs = try (0..<count).map { _ in try SocketPair() }
        let seen = LoopConfined(Set<Int32>())
        let done = loop.createFuture(of: Void.self)
        for pair in pairs {
            let fd = pair.first
            try loop.addReader(fd) {
                _ = readAvailable(fd)
                loop.removeReader(fd)
                seen.value.insert(fd)
                if seen.value.count == count { try done.setResult(()) }
            }
            writeBytes(pair.second, [1])
        }
        try withLoopOnThread(loop) { try done.wait(timeout: 10) }
        #expect(seen.value.count == count)
    }
}

@Suite("fd readiness from other threads", .timeLimit(.minutes(5)))
struct ReadinessThreadTests {
    @Test("a reader added from another thread wakes the sleeping loop when its fd is ready",
          arguments: 0..<5)
    func addFromAnotherThreadWhileAsleep(round: Int) throws {
        let loop = try EventLoop(spinBeforeSleep: .zero)
        let pair = try SocketPair()
        let fd = pair.first
        let got = loop.createFuture(of: [UInt8].self)
        try withLoopOnThread(loop) {
            try settle(loop)  // the loop is running; with nothing to do it sleeps in epoll
            let wakeupsBefore = loop.statistics.eventfdWrites
            try loop.addReader(fd) {
                loop.removeReader(fd)
                try got.setResult(readAvailable(fd) ?? [])
            }
            writeBytes(pair.second, [1, 2, 3])
            let bytes = try got.wait(timeout: 10)
            #expect(bytes == [1, 2, 3])
            #expect(loop.statistics.eventfdWrites == wakeupsBefore, "epoll woke it: no eventfd write")
        }
    }

    @Test("readers added and removed from several threads while the loop runs: exact answers, nothing left")
    func registrationsFromManyThreads() throws {
        let loop = try EventLoop()
        let threads = 4
        let perThread = 200
        let pairs = try (0..<threads).map { _ in try SocketPair() }
        let mismatches = StressCounter()
        try withLoopOnThread(loop) {
            JoinableThread.runAll(threads) { index in
                let fd = pairs[index].first
                for _ in 0..<perThread {
                    if loop.hasReader(fd) { mismatches.add() }
                    do { try loop.addReader(fd) {} } catch { mismatches.add() }
                    if !loop.removeReader(fd) { mismatches.add() }
                    if loop.removeReader(fd) { mismatches.add() }
                }
            }
        }
        #expect(mismatches.value == 0)
        for pair in pairs { #expect(!loop.hasReader(pair.first)) }
    }

    @Test("loops with watches leave no file descriptor open once closed")
    func noDescriptorLeaked() throws {
        // Other suites open fds in parallel: a leak of one per round shows as +40, noise as a few.
        let before = quietDescriptorCount()
        for _ in 0..<40 {
            let loop = try EventLoop()
            let pair = try SocketPair()
            try loop.addReader(pair.first) {}
            try loop.addWriter(pair.second) {}
            try loop.close()
            pair.close()
        }
        let after = settledDescriptorCount(atMost: before + 19)
        #expect(after - before < 20, "fds before \(before), after \(after)")
    }
}
