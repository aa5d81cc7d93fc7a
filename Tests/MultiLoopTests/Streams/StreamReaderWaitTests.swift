import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// The one waiter: a second read that must wait is refused, a cancelled wait leaves the reader
/// usable and loses nothing, and `for try await line in reader`.
@Suite("StreamReader (asyncio.StreamReader): waiting, cancellation, lines", .timeLimit(.minutes(5)))
struct StreamReaderWaitTests {
    typealias T = StreamTesting

    @Test("a second read that must wait while one waits is refused; the first still gets the data")
    func concurrentRead() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let first = loop.createTask { try await reader.readLine() }
            try await T.untilWaiting(reader)
            await #expect(throws: StreamError.concurrentRead) { try await reader.read(1) }
            await #expect(throws: StreamError.concurrentRead) { try await reader.read() }
            await #expect(throws: StreamError.concurrentRead) { try await reader.readLine() }
            await #expect(throws: StreamError.concurrentRead) { try await reader.readUntil([0x21]) }
            await #expect(throws: StreamError.concurrentRead) { try await reader.readExactly(3) }
            #expect(try await reader.read(0) == [], "a read that need not wait is fine")
            #expect(try await reader.readExactly(0) == [])
            try reader.feedData(T.bytes("one\ntwo"))
            // Woken but not resumed: the wait is not over until the first read runs again.
            #expect(reader.hasWaiter == false && reader.isReadWaiting == true)
            await #expect(throws: StreamError.concurrentRead) { try await reader.read() }
            #expect(try await T.value(of: first) == T.bytes("one\n"))
            #expect(reader.isReadWaiting == false)
            #expect(try await reader.read(10) == T.bytes("two"))
            #expect(StreamError.concurrentRead.description.contains("already waiting for incoming data"))
        }
    }

    @Test("a waiting read that is cancelled throws CancellationError and leaves the reader usable, losing nothing")
    func cancelWaitingRead() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            // The asyncio case (test_exception_cancel), then a read of every kind.
            let reader = try StreamReader()
            let readLine = loop.createTask { try await reader.readLine() }
            try await T.untilWaiting(reader)
            readLine.cancel()
            #expect(try await T.error(of: readLine) is CancelledError)
            try reader.setException(RuntimeFailure())  // must not resume the cancelled wait again
            try await sleep(0)
            #expect(reader.hasWaiter == false && reader.isReadWaiting == false)

            typealias Read = @Sendable (StreamReader) async throws -> [UInt8]
            let reads: [(String, Read)] = [
                ("readLine", { try await $0.readLine() }),
                ("readExactly(20)", { try await $0.readExactly(20) }),
                ("readUntil(!)", { try await $0.readUntil([0x21]) }),
                ("readUntil(anyOf: !, ?)", { try await $0.readUntil(anyOf: [[0x21], [0x3F]]) }),
                ("read()", { try await $0.read() }),
                ("read(5)", { try await $0.read(5) }),
            ]
            for (name, read) in reads {
                let reader = try StreamReader()
                if name != "read(5)" { try reader.feedData(T.bytes("held ")) }  // not enough for the read
                let task = loop.createTask { try await read(reader) }
                try await T.untilWaiting(reader, "\(name) waits")
                task.cancel()
                #expect(try await T.error(of: task) is CancelledError, "\(name)")
                #expect(reader.isReadWaiting == false)
                // Usable, and nothing was taken: the next read gets everything, in order.
                try reader.feedData(T.bytes("more\n!"))
                try reader.feedEOF()
                let expected = name == "read(5)" ? "more\n!" : "held more\n!"
                #expect(try await reader.read() == T.bytes(expected), "\(name)")
            }
        }
    }

    @Test("a read in a task already cancelled: done at once if it need not wait, else CancellationError at once")
    func readInCancelledTask() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            try reader.feedData(T.bytes("line\nrest"))
            let gate = Future<Void>(loop: loop)
            let task = loop.createTask { () async throws -> [[UInt8]] in
                try? await gate.value  // ends when cancelled
                #expect(Task.isCancelled)
                var got = [try await reader.readLine()]
                do {
                    got.append(try await reader.readLine())
                    Issue.record("a wait in a cancelled task must throw")
                } catch is CancellationError {
                }
                got.append(try await reader.read(100))
                return got
            }
            try await sleep(0)
            task.cancel()
            #expect(try await T.value(of: task) == [T.bytes("line\n"), T.bytes("rest")])
            #expect(reader.hasWaiter == false && reader.isReadWaiting == false)
            try reader.feedData(T.bytes("next\n"))
            #expect(try await reader.readLine() == T.bytes("next\n"))
        }
    }

    @Test("cancelled in the iteration that wakes it: either the read returns its data, or the data stays")
    func cancelRacesFeed() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            for cancelFirst in [false, true] {
                let reader = try StreamReader()
                let task = loop.createTask { try await reader.readExactly(3) }
                try await T.untilWaiting(reader)
                try loop.callSoon {
                    if cancelFirst { task.cancel() }
                    try reader.feedData(T.bytes("abcd"))
                    if !cancelFirst { task.cancel() }
                }
                if let error = try await T.error(of: task) {
                    #expect(error is CancelledError)
                    #expect(cancelFirst)
                    #expect(reader.bufferedBytes == T.bytes("abcd"), "nothing taken")
                } else {
                    #expect(!cancelFirst, "woken by the feed first: the read completes (asyncio throws, keeping the bytes)")
                    #expect(try await T.value(of: task) == T.bytes("abc") && reader.bufferedBytes == T.bytes("d"))
                }
            }
        }
    }

    @Test("for try await line in reader: each line, the last without a newline, then the end (async for)")
    func lines() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let collector = loop.createTask { () async throws -> [[UInt8]] in
                var lines: [[UInt8]] = []
                for try await line in reader { lines.append(line) }
                return lines
            }
            for piece in ["line1\nli", "ne2\n", "", "\nline", "3"] {
                try await sleep(0)
                try reader.feedData(T.bytes(piece))
            }
            try reader.feedEOF()
            #expect(try await T.value(of: collector) == ["line1\n", "line2\n", "\n", "line3"].map(T.bytes))
            var iterator = reader.makeAsyncIterator()
            #expect(try await iterator.next() == nil, "after the end, nil again")

            // Errors end the loop: a line past the limit, a set exception.
            let limited = try StreamReader(limit: 4)
            try limited.feedData(T.bytes("ok\ntoo long\n"))
            var seen: [[UInt8]] = []
            await #expect(throws: StreamError.lineTooLong(separatorFound: true)) {
                for try await line in limited { seen.append(line) }
            }
            #expect(seen == [T.bytes("ok\n")])
            let failing = try StreamReader()
            try failing.feedData(T.bytes("a\n"))
            var failingIterator = failing.makeAsyncIterator()
            #expect(try await failingIterator.next() == T.bytes("a\n"))
            try failing.setException(TestError(code: 5))
            await #expect(throws: TestError(code: 5)) { _ = try await failingIterator.next() }
        }
    }

    struct RuntimeFailure: Error {}
}
