import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// Flow control toward the transport (asyncio's `pause_reading` past 2 × limit, and
/// `_maybe_resume_transport` at ≤ limit), and `feed(capacity:_:)`, the socket layer's way in.
@Suite("StreamReader (asyncio.StreamReader): flow control, feed(capacity:)", .timeLimit(.minutes(5)))
struct StreamReaderFlowControlTests {
    typealias T = StreamTesting

    @Test("pauses once past twice the limit; resumes once a read brings it to the limit")
    func pauseAndResume() throws {
        try T.run { () async throws -> Void in
            let transport = T.FakeTransport()
            let reader = try StreamReader(limit: 4)
            reader.transport = transport
            try reader.feedData(T.bytes("12345678"))
            #expect(transport.calls == [] && reader.isTransportPaused == false, "8 is not more than 2 × 4")
            try reader.feedData(T.bytes("9"))
            #expect(transport.calls == ["pause"] && reader.isTransportPaused == true)
            try reader.feedData(T.bytes("ab"))
            #expect(transport.calls == ["pause"], "paused once")
            #expect(try await reader.read(2) == T.bytes("12"))
            #expect(transport.calls == ["pause"], "9 held: above the limit")
            #expect(try await reader.read(5) == T.bytes("34567"))
            #expect(transport.calls == ["pause", "resume"] && reader.isTransportPaused == false, "4 held")
            #expect(try await reader.read(4) == T.bytes("89ab"))
            #expect(transport.calls == ["pause", "resume"])
        }
    }

    @Test("every read that takes bytes resumes (readLine, readUntil, readExactly, a dropped long line)")
    func resumeAfterEachRead() throws {
        try T.run { () async throws -> Void in
            typealias Read = @Sendable (StreamReader) async throws -> Void
            let reads: [(String, Read)] = [
                ("readLine", { _ = try await $0.readLine() }),
                ("readUntil", { _ = try await $0.readUntil(T.bytes("\n")) }),
                ("readExactly", { _ = try await $0.readExactly(7) }),
                ("read", { _ = try await $0.read(7) }),
                ("lineTooLong", { reader in
                    await #expect(throws: StreamError.lineTooLong(separatorFound: true)) { try await reader.readLine() }
                }),
            ]
            for (name, read) in reads {
                let transport = T.FakeTransport()
                let reader = try StreamReader(limit: 6)
                reader.transport = transport
                // More than 12 bytes; what is left after the line (or 7 bytes) is 6.
                try reader.feedData(T.bytes(name == "lineTooLong" ? "a long line\nabcdef" : "line 1\nabcdef"))
                #expect(transport.calls == ["pause"], "\(name)")
                try await read(reader)
                #expect(transport.calls == ["pause", "resume"], "\(name): 6 left")
                #expect(reader.bufferedBytes == T.bytes("abcdef"), "\(name)")
            }
        }
    }

    @Test("a read about to wait resumes a paused transport first (readExactly past the limit)")
    func waitResumes() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let transport = T.FakeTransport()
            let reader = try StreamReader(limit: 2)
            reader.transport = transport
            let readTask = loop.createTask { try await reader.readExactly(12) }
            var expected: [UInt8] = []
            for index in 0..<4 {
                try await T.untilWaiting(reader)
                let chunk = T.bytes("ab\(index)")
                expected += chunk
                try reader.feedData(chunk)  // 3, 6, 9, 12 held: past 4 from the second feed on
            }
            #expect(try await T.value(of: readTask) == expected)
            #expect(transport.calls == ["pause", "resume", "pause", "resume", "pause", "resume"],
                    "paused by the feeds of 6, 9, 12 bytes; resumed before waiting twice, and by the read")
            #expect(reader.isTransportPaused == false)
        }
    }

    @Test("without a transport, or after it is gone, nothing is asked and nothing breaks")
    func noTransport() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 1)
            try reader.feedData(T.bytes("abc"))
            #expect(reader.isTransportPaused == false)
            do {
                let transport = T.FakeTransport()
                reader.transport = transport
                try reader.feedData(T.bytes("d"))
                #expect(transport.calls == ["pause"])
            }
            #expect(reader.transport == nil, "held weakly")
            #expect(try await reader.read(4) == T.bytes("abcd"))
            #expect(reader.isTransportPaused == false)
        }
    }

    @Test("feed(capacity:) receives into the buffer, wakes the read and pauses as feedData does")
    func feedCapacity() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let transport = T.FakeTransport()
            let reader = try StreamReader(limit: 5)
            reader.transport = transport
            let readTask = loop.createTask { try await reader.readLine() }
            try await T.untilWaiting(reader)
            let message = T.bytes("hello\nworld")
            let appended = try reader.feed(capacity: 64) { room in
                #expect(room.count == 64)
                room.copyBytes(from: message)
                return message.count
            }
            #expect(appended == message.count)
            #expect(transport.calls == ["pause"], "11 > 10")
            #expect(try await T.value(of: readTask) == T.bytes("hello\n"))
            #expect(transport.calls == ["pause", "resume"])
            #expect(reader.bufferedBytes == T.bytes("world"))

            #expect(try reader.feed(capacity: 8) { _ in 0 } == 0, "nothing received, nothing appended")
            #expect(try reader.feed(capacity: 0) { _ in Issue.record("not called"); return 0 } == 0)
            #expect(throws: TestError(code: 4)) {
                _ = try reader.feed(capacity: 8) { room in
                    room[0] = 0x21
                    throw TestError(code: 4)
                }
            }
            #expect(reader.bufferedBytes == T.bytes("world"), "a failed receive appends nothing")
            try reader.feedEOF()
            #expect(try await reader.read() == T.bytes("world"))
        }
    }
}
