import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// CPython's test_streams.py reader tests for `read`, `readExactly`, `isAtEOF`, `exception` and
/// the constructor, each named after the asyncio test it comes from where there is one.
@Suite("StreamReader (asyncio.StreamReader): read, readExactly, state", .timeLimit(.minutes(5)))
struct StreamReaderReadTests {
    typealias T = StreamTesting
    static let data = StreamTesting.data

    @Test("feedData appends; empty data changes nothing (test_feed_empty_data, test_feed_nonempty_data)")
    func feedData() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData([UInt8]())
            #expect(reader.bufferedBytes == [] && reader.bufferedCount == 0)
            try reader.feedData(Self.data)
            #expect(reader.bufferedBytes == Self.data)
            // Any collection of bytes, and raw memory.
            try reader.feedData(T.bytes("ab").reversed())
            try T.bytes("cd").withUnsafeBytes { try reader.feedData($0) }
            try reader.feedData("ef".utf8)
            #expect(reader.bufferedBytes == Self.data + T.bytes("bacdef"))
            #expect(reader.bufferedCount == Self.data.count + 6)
        }
    }

    @Test("read(0) returns nothing and leaves the buffer (test_read_zero)")
    func readZero() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(Self.data)
            #expect(try await reader.read(0) == [])
            #expect(reader.bufferedBytes == Self.data)
        }
    }

    @Test("read(n) waits for the next feed, then returns what is there (test_read)")
    func readWaits() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let readTask = loop.createTask { try await reader.read(30) }
            try await T.untilWaiting(reader)
            try loop.callSoon { try reader.feedData(Self.data) }
            #expect(try await T.value(of: readTask) == Self.data)
            #expect(reader.bufferedBytes == [])
        }
    }

    @Test("read(n) returns at most n bytes, across feeds (test_read_line_breaks, test_read_limit)")
    func readAtMostN() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(T.bytes("line1"))
            try reader.feedData(T.bytes("line2"))
            #expect(try await reader.read(5) == T.bytes("line1"))
            #expect(reader.bufferedBytes == T.bytes("line2"))

            let limited = try StreamReader(limit: 3)
            try limited.feedData(T.bytes("chunk"))
            #expect(try await limited.read(5) == T.bytes("chunk"), "read is not bounded by the limit")
            #expect(limited.bufferedBytes == [])
        }
    }

    @Test("read(n) at the end of the stream returns nothing (test_read_eof)")
    func readEOF() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let readTask = loop.createTask { try await reader.read(1024) }
            try await T.untilWaiting(reader)
            try loop.callSoon { try reader.feedEOF() }
            #expect(try await T.value(of: readTask) == [])
            #expect(try await reader.read(1024) == [], "and again")
            #expect(reader.bufferedBytes == [])
        }
    }

    @Test("read() reads until the end of the stream (test_read_until_eof)")
    func readUntilEOF() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader(limit: 4)
            let readTask = loop.createTask { try await reader.read() }
            try await T.untilWaiting(reader)
            try loop.callSoon {
                try reader.feedData(T.bytes("chunk1\n"))
                try reader.feedData(T.bytes("chunk2"))
                try reader.feedEOF()
            }
            #expect(try await T.value(of: readTask) == T.bytes("chunk1\nchunk2"))
            #expect(reader.bufferedBytes == [])
            // Over several feeds and iterations, longer than the limit.
            let second = try StreamReader(limit: 4)
            let everything = loop.createTask { try await second.read(-1) }
            var expected: [UInt8] = []
            for index in 0..<20 {
                try await sleep(0)
                let chunk = T.bytes("part \(index);")
                expected += chunk
                try second.feedData(chunk)
            }
            try second.feedEOF()
            #expect(try await T.value(of: everything) == expected)
            #expect(second.isAtEOF)
        }
    }

    @Test("a set exception is thrown by every later read, as it is (test_read_exception and kin)")
    func readException() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(T.bytes("line\n"))
            #expect(try await reader.read(2) == T.bytes("li"))
            try reader.setException(TestError(code: 7))
            await #expect(throws: TestError(code: 7)) { try await reader.read(2) }
            await #expect(throws: TestError(code: 7)) { try await reader.read() }
            await #expect(throws: TestError(code: 7)) { try await reader.readLine() }
            await #expect(throws: TestError(code: 7)) { try await reader.readExactly(2) }
            await #expect(throws: TestError(code: 7)) { try await reader.readUntil([0x65]) }
            await #expect(throws: TestError(code: 7), "read(0) too, as in asyncio") { try await reader.read(0) }
            #expect(reader.bufferedBytes == T.bytes("ne\n"), "the bytes stay, unread")
            // Another error replaces it; a StreamError given is rethrown as is too.
            try reader.setException(StreamError.incompleteRead(partial: [1], expected: 2))
            await #expect(throws: StreamError.incompleteRead(partial: [1], expected: 2)) { try await reader.read(1) }
        }
    }

    @Test("exception is nil, then the error set (test_exception)")
    func exception() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            #expect(reader.exception == nil)
            try reader.setException(TestError(code: 3))
            #expect(reader.exception as? TestError == TestError(code: 3))
        }
    }

    @Test("setException ends a waiting read with the error (test_exception_waiter)")
    func exceptionWaiter() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let readTask = loop.createTask { try await reader.readLine() }
            let setter = loop.createTask { try reader.setException(TestError(code: 1)) }
            try await setter.value
            #expect(try await T.error(of: readTask) as? TestError == TestError(code: 1))
            #expect(reader.hasWaiter == false)

            // Set after a feed woke the read, before it resumed: a read that needs more throws
            // it instead of waiting again (asyncio would wait for a feed that never comes).
            let reads: [@Sendable (StreamReader) async throws -> [UInt8]] = [
                { try await $0.readExactly(4) }, { try await $0.read() }, { try await $0.readUntil([0x21]) },
            ]
            for makeRead in reads {
                let woken = try StreamReader()
                let task = loop.createTask { try await makeRead(woken) }
                try await T.untilWaiting(woken)
                try loop.callSoon {
                    try woken.feedData(T.bytes("ab"))
                    try woken.setException(TestError(code: 2))
                }
                #expect(try await T.error(of: task) as? TestError == TestError(code: 2))
                #expect(woken.bufferedBytes == T.bytes("ab"))
            }
        }
    }

    @Test("isAtEOF: only once feedEOF was called and every byte read (test_at_eof)")
    func atEOF() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            #expect(!reader.isAtEOF)
            try reader.feedData(T.bytes("some data\n"))
            #expect(!reader.isAtEOF)
            _ = try await reader.readLine()
            #expect(!reader.isAtEOF)
            try reader.feedData(T.bytes("some data\n"))
            try reader.feedEOF()
            #expect(!reader.isAtEOF, "bytes are still held")
            _ = try await reader.readLine()
            #expect(reader.isAtEOF)
            try reader.feedEOF()
            #expect(reader.isAtEOF, "a second feedEOF changes nothing")
        }
    }

    @Test("feedData after feedEOF is refused, even empty (asyncio's assertion)")
    func feedAfterEOF() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(T.bytes("x"))
            try reader.feedEOF()
            #expect(throws: StreamError.feedAfterEOF) { try reader.feedData(T.bytes("y")) }
            #expect(throws: StreamError.feedAfterEOF) { try reader.feedData([UInt8]()) }
            var called = false
            #expect(throws: StreamError.feedAfterEOF) {
                _ = try reader.feed(capacity: 8) { _ in called = true; return 0 }
            }
            #expect(!called, "receive is not called after the end")
            #expect(reader.bufferedBytes == T.bytes("x"))
            #expect(StreamError.feedAfterEOF.description == "feedData after feedEOF")
        }
    }

    @Test("readExactly(0) returns nothing; a negative count is refused (test_readexactly_zero_or_less)")
    func readExactlyZeroOrLess() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(Self.data)
            #expect(try await reader.readExactly(0) == [])
            #expect(reader.bufferedBytes == Self.data)
            await #expect(throws: StreamError.invalidSize(-1)) { try await reader.readExactly(-1) }
            #expect(reader.bufferedBytes == Self.data)
            try reader.setException(TestError(code: 1))
            await #expect(throws: StreamError.invalidSize(-2), "the count is checked before the error") {
                try await reader.readExactly(-2)
            }
        }
    }

    @Test("readExactly waits across feeds for exactly n bytes (test_readexactly, test_readexactly_limit)")
    func readExactly() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let n = 2 * Self.data.count
            let readTask = loop.createTask { try await reader.readExactly(n) }
            try await T.untilWaiting(reader)
            try loop.callSoon {
                for _ in 0..<3 { try reader.feedData(Self.data) }
            }
            #expect(try await T.value(of: readTask) == Self.data + Self.data)
            #expect(reader.bufferedBytes == Self.data)

            let limited = try StreamReader(limit: 3)
            try limited.feedData(T.bytes("chunk"))
            #expect(try await limited.readExactly(5) == T.bytes("chunk"))
            #expect(limited.bufferedBytes == [])

            // One byte per feed, each in an iteration of its own, then more than needed.
            let bytewise = try StreamReader()
            let byByte = loop.createTask { try await bytewise.readExactly(5) }
            for byte in T.bytes("abcd") {
                try await T.untilWaiting(bytewise)
                try bytewise.feedData([byte])
            }
            try await T.untilWaiting(bytewise)
            try bytewise.feedData(T.bytes("ef"))
            #expect(try await T.value(of: byByte) == T.bytes("abcde"))
            #expect(bytewise.bufferedBytes == T.bytes("f"))
        }
    }

    @Test("readExactly at the end of the stream: incompleteRead with the partial bytes (test_readexactly_eof)")
    func readExactlyEOF() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let n = 2 * Self.data.count
            let readTask = loop.createTask { try await reader.readExactly(n) }
            try await T.untilWaiting(reader)
            try loop.callSoon {
                try reader.feedData(Self.data)
                try reader.feedEOF()
            }
            let error = try await T.error(of: readTask)
            #expect(error as? StreamError == .incompleteRead(partial: Self.data, expected: n))
            #expect("\(error.map { "\($0)" } ?? "")" == "18 bytes read on a total of 36 expected bytes")
            #expect(reader.bufferedBytes == [])
            #expect(reader.isAtEOF)
        }
    }

    @Test("the limit must be positive (test_invalid_limit)")
    func invalidLimit() throws {
        try T.run { () async throws -> Void in
            #expect(throws: StreamError.invalidLimit(0)) { try StreamReader(limit: 0) }
            #expect(throws: StreamError.invalidLimit(-1)) { try StreamReader(limit: -1) }
            #expect(StreamError.invalidLimit(0).description.contains("limit cannot be <= 0"))
            #expect(try StreamReader(limit: 1).limit == 1)
            #expect(try StreamReader(limit: .max).limit == .max, "no overflow in the flow-control bounds")
            #expect(try StreamReader().limit == 65_536 && StreamReader.defaultLimit == 65_536)
        }
    }

    @Test("without a loop: the running loop, else the set loop, else noEventLoop (test_streamreader_constructor_*)")
    func constructorLoop() throws {
        // test_streamreader_constructor_without_loop: a new thread has neither.
        let none = FutureTesting.onNewThread { () throws -> Bool in
            do {
                _ = try StreamReader()
                return false
            } catch {
                return error as? StreamError == .noEventLoop
            }
        }
        #expect(try none.get(), "a thread with no loop gets noEventLoop")
        #expect(throws: StreamError.invalidLimit(0), "the limit is checked first, as in asyncio") {
            _ = try FutureTesting.onNewThread { try StreamReader(limit: 0) }.get()
        }
        // test_streamreader_constructor_use_global_loop: the loop set for the thread.
        let set = FutureTesting.onNewThread { () throws -> Bool in
            let loop = try EventLoop()
            defer { _ = try? loop.close() }
            setEventLoop(loop)
            return try StreamReader().loop === loop
        }
        #expect(try set.get())
        // test_streamreader_constructor_use_running_loop, and an explicit loop.
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            #expect(try StreamReader().loop === loop)
            let other = try EventLoop()
            defer { _ = try? other.close() }
            #expect(try StreamReader(loop: other).loop === other)
        }
    }

    @Test("description is asyncio's repr (test___repr__*)")
    func description() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            #expect(try StreamReader().description == "<StreamReader>")
            #expect(try StreamReader(limit: 123).description == "<StreamReader limit=123>")
            let eof = try StreamReader()
            try eof.feedEOF()
            #expect(eof.description == "<StreamReader eof>")
            let data = try StreamReader()
            try data.feedData(T.bytes("data"))
            #expect(data.description == "<StreamReader 4 bytes>")
            let failed = try StreamReader()
            try failed.setException(TestError(code: 2))
            #expect(failed.description == "<StreamReader exception=TestError(code: 2)>")
            let waiting = try StreamReader()
            let readTask = loop.createTask { try await waiting.read(1) }
            try await T.untilWaiting(waiting)
            #expect(waiting.description == "<StreamReader waiter>")
            try waiting.feedData([1])
            _ = try await T.value(of: readTask)
            #expect(waiting.description == "<StreamReader>")
            let transport = T.FakeTransport()
            let withTransport = try StreamReader(limit: 1)
            withTransport.transport = transport
            #expect(withTransport.description == "<StreamReader limit=1 transport>")
            try withTransport.feedData([1, 2, 3])
            #expect(withTransport.description == "<StreamReader 3 bytes limit=1 transport paused>")
        }
    }
}
