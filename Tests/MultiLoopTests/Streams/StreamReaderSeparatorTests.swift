import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// CPython's test_streams.py reader tests for `readline` and `readuntil`: the lines, the
/// separators, and the limit (LimitOverrunError's `consumed`, readline's ValueError).
@Suite("StreamReader (asyncio.StreamReader): readLine, readUntil, the limit", .timeLimit(.minutes(5)))
struct StreamReaderSeparatorTests {
    typealias T = StreamTesting
    static let data = StreamTesting.data

    @Test("readLine waits across feeds for the newline (test_readline)")
    func readLine() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            try reader.feedData(T.bytes("chunk1 "))
            let readTask = loop.createTask { try await reader.readLine() }
            try await T.untilWaiting(reader)
            try loop.callSoon {
                try reader.feedData(T.bytes("chunk2 "))
                try reader.feedData(T.bytes("chunk3 "))
                try reader.feedData(T.bytes("\n chunk4"))
            }
            #expect(try await T.value(of: readTask) == T.bytes("chunk1 chunk2 chunk3 \n"))
            #expect(reader.bufferedBytes == T.bytes(" chunk4"))
        }
    }

    @Test("readLine with the line already held; then read counts from after it (test_readline_nolimit_nowait, test_readline_read_byte_count)")
    func readLineNoWait() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(Array(Self.data[..<6]))
            try reader.feedData(Array(Self.data[6...]))
            #expect(try await reader.readLine() == T.bytes("line1\n"))
            #expect(reader.bufferedBytes == T.bytes("line2\nline3\n"))
            #expect(try await reader.read(7) == T.bytes("line2\nl"))
            #expect(reader.bufferedBytes == T.bytes("ine3\n"))
        }
    }

    @Test("readLine at the end: the last bytes without a newline, then nothing (test_readline_eof, test_readline_empty_eof)")
    func readLineEOF() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(T.bytes("some data"))
            try reader.feedEOF()
            #expect(try await reader.readLine() == T.bytes("some data"))
            #expect(try await reader.readLine() == [])
            let empty = try StreamReader()
            try empty.feedEOF()
            #expect(try await empty.readLine() == [])
            #expect(empty.isAtEOF)
        }
    }

    @Test("readLine after a set exception throws it (test_readline_exception)")
    func readLineException() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.feedData(T.bytes("line\n"))
            #expect(try await reader.readLine() == T.bytes("line\n"))
            try reader.setException(TestError(code: 9))
            await #expect(throws: TestError(code: 9)) { try await reader.readLine() }
            #expect(reader.bufferedBytes == [])
        }
    }

    @Test("readLine past the limit with the data held: the line is dropped, or everything (test_readline_limit_with_existing_data)")
    func readLineLimitWithExistingData() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 3)
            try reader.feedData(T.bytes("li"))
            try reader.feedData(T.bytes("ne1\nline2\n"))
            await #expect(throws: StreamError.lineTooLong(separatorFound: true)) { try await reader.readLine() }
            #expect(reader.bufferedBytes == T.bytes("line2\n"), "the rest stays")

            let noNewline = try StreamReader(limit: 3)
            try noNewline.feedData(T.bytes("li"))
            try noNewline.feedData(T.bytes("ne1"))
            try noNewline.feedData(T.bytes("li"))
            await #expect(throws: StreamError.lineTooLong(separatorFound: false)) { try await noNewline.readLine() }
            #expect(noNewline.bufferedBytes == [], "no newline within the limit: everything is dropped")
        }
    }

    @Test("readLine past the limit with the data fed while it waits; the limit is strict (test_readline_limit)")
    func readLineLimit() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let oneLine = try StreamReader(limit: 7)
            let first = loop.createTask { try await oneLine.readLine() }
            try await T.untilWaiting(oneLine)
            try loop.callSoon {
                try oneLine.feedData(T.bytes("chunk1"))
                try oneLine.feedData(T.bytes("chunk2"))
                try oneLine.feedData(T.bytes("chunk3\n"))
                try oneLine.feedEOF()
            }
            #expect(try await T.error(of: first) as? StreamError == .lineTooLong(separatorFound: true))
            #expect(oneLine.bufferedBytes == [])

            let twoLines = try StreamReader(limit: 7)
            let second = loop.createTask { try await twoLines.readLine() }
            try await T.untilWaiting(twoLines)
            try loop.callSoon {
                try twoLines.feedData(T.bytes("chunk1"))
                try twoLines.feedData(T.bytes("chunk2\n"))
                try twoLines.feedData(T.bytes("chunk3\n"))
                try twoLines.feedEOF()
            }
            #expect(try await T.error(of: second) as? StreamError == .lineTooLong(separatorFound: true))
            #expect(twoLines.bufferedBytes == T.bytes("chunk3\n"))

            let strict = try StreamReader(limit: 7)
            try strict.feedData(T.bytes("1234567\n"))
            #expect(try await strict.readLine() == T.bytes("1234567\n"), "the limit does not count the newline")
            #expect(strict.bufferedBytes == [])
            try strict.feedData(T.bytes("12345678\n"))
            await #expect(throws: StreamError.lineTooLong(separatorFound: true)) { try await strict.readLine() }
            #expect(strict.bufferedBytes == [])
            try strict.feedData(T.bytes("12345678"))
            await #expect(throws: StreamError.lineTooLong(separatorFound: false)) { try await strict.readLine() }
            #expect(strict.bufferedBytes == [])
            #expect(StreamError.lineTooLong(separatorFound: true).description
                        == "Separator is found, but chunk is longer than limit")
            #expect(StreamError.lineTooLong(separatorFound: false).description
                        == "Separator is not found, and chunk exceed the limit")
        }
    }

    @Test("readUntil refuses an empty separator or none, before anything else (test_readuntil_separator)")
    func readUntilInvalidSeparator() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            try reader.setException(TestError(code: 1))
            await #expect(throws: StreamError.invalidSeparator) { try await reader.readUntil([]) }
            await #expect(throws: StreamError.invalidSeparator) { try await reader.readUntil(anyOf: [[]]) }
            await #expect(throws: StreamError.invalidSeparator) { try await reader.readUntil(anyOf: []) }
            await #expect(throws: StreamError.invalidSeparator) { try await reader.readUntil(anyOf: [[1], []]) }
            await #expect(throws: TestError(code: 1)) { try await reader.readUntil(anyOf: [[1]]) }
        }
    }

    @Test("readUntil returns up to and including the separator (test_readuntil_multi_chunks)")
    func readUntilMultiChunks() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            let separator = T.bytes("AAA")
            try reader.feedData(T.bytes("lineAAA"))
            #expect(try await reader.readUntil(separator) == T.bytes("lineAAA"))
            #expect(reader.bufferedBytes == [])
            try reader.feedData(T.bytes("lineAAAxxx"))
            #expect(try await reader.readUntil(separator) == T.bytes("lineAAA"))
            #expect(reader.bufferedBytes == T.bytes("xxx"))
            #expect(try await reader.readUntil(T.bytes("x")) == T.bytes("x"))
            try reader.feedData(T.bytes("\n"))
            #expect(try await reader.readUntil() == T.bytes("xx\n"), "the default separator is the newline")
        }
    }

    @Test("a separator split across feeds, and repeated first bytes (test_readuntil_multi_chunks_1)")
    func readUntilSplitSeparator() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            let separator = T.bytes("aaa")
            for (feeds, expected) in [(["QWEaa", "XYaa", "a"], "QWEaaXYaaa"), (["QWEaa", "XYa", "aa"], "QWEaaXYaaa"),
                                      (["aaa"], "aaa"), (["Xaaa"], "Xaaa"), (["XXX", "a", "a", "a"], "XXXaaa")] {
                for feed in feeds { try reader.feedData(T.bytes(feed)) }
                #expect(try await reader.readUntil(separator) == T.bytes(expected))
                #expect(reader.bufferedBytes == [])
            }
            // The same, with the reader waiting between the feeds.
            for (feeds, expected) in [(["QWEaa", "XYaa", "a"], "QWEaaXYaaa"), (["QWEaa", "XYa", "aa"], "QWEaaXYaaa"),
                                      (["XXX", "a", "a", "a"], "XXXaaa"), (["a", "ab", "aa", "a"], "aabaaa")] {
                let readTask = loop.createTask { try await reader.readUntil(separator) }
                for feed in feeds {
                    try await T.untilWaiting(reader, "readUntil waits before \(feed)")
                    try reader.feedData(T.bytes(feed))
                }
                #expect(try await T.value(of: readTask) == T.bytes(expected))
                #expect(reader.bufferedBytes == [])
            }
        }
    }

    @Test("readUntil at the end of the stream: incompleteRead with everything, expected nil (test_readuntil_eof)")
    func readUntilEOF() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            let data = T.bytes("some dataAA")
            try reader.feedData(data)
            try reader.feedEOF()
            let error = await #expect(throws: StreamError.self) { try await reader.readUntil(T.bytes("AAA")) }
            #expect(error == .incompleteRead(partial: data, expected: nil))
            #expect(error?.description == "11 bytes read on a total of undefined expected bytes")
            #expect(reader.bufferedBytes == [] && reader.isAtEOF)
            // A separator completed by the last feed before the end is still found.
            let last = try StreamReader()
            try last.feedData(T.bytes("xyAA"))
            try last.feedData(T.bytes("A"))
            try last.feedEOF()
            #expect(try await last.readUntil(T.bytes("AAA")) == T.bytes("xyAAA"))
        }
    }

    @Test("readUntil past the limit: limitOverrun with asyncio's consumed; the data stays (test_readuntil_limit_found_sep)")
    func readUntilLimit() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 3)
            try reader.feedData(T.bytes("some dataAA"))
            // Not found: consumed = 11 held + 1 - 3 (the separator's length).
            await #expect(throws: StreamError.limitOverrun(consumed: 9)) { try await reader.readUntil(T.bytes("AAA")) }
            #expect(reader.bufferedBytes == T.bytes("some dataAA"))
            try reader.feedData(T.bytes("A"))
            // Found, starting at 9 > 3.
            await #expect(throws: StreamError.limitOverrun(consumed: 9)) { try await reader.readUntil(T.bytes("AAA")) }
            #expect(reader.bufferedBytes == T.bytes("some dataAAA"))
            // Exactly at the limit is fine: the separator starts at 3.
            let edge = try StreamReader(limit: 3)
            try edge.feedData(T.bytes("abc\n"))
            #expect(try await edge.readUntil() == T.bytes("abc\n"))
            try edge.feedData(T.bytes("abcd"))
            await #expect(throws: StreamError.limitOverrun(consumed: 4)) { try await edge.readUntil() }
            #expect(edge.bufferedBytes == T.bytes("abcd"))
        }
    }

    @Test("readUntil(anyOf:): the earliest end wins, then the shortest separator (test_readuntil_multi_separator)")
    func readUntilAnyOf() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            let lineEnds = [T.bytes("\r"), T.bytes("\n")]
            try reader.feedData(T.bytes("line 1\nline 2\r"))
            #expect(try await reader.readUntil(anyOf: lineEnds) == T.bytes("line 1\n"))
            #expect(try await reader.readUntil(anyOf: lineEnds) == T.bytes("line 2\r"))
            #expect(reader.bufferedBytes == [])
            try reader.feedData(T.bytes("ABCDEFG"))
            #expect(try await reader.readUntil(anyOf: [T.bytes("DEF"), T.bytes("BCDE")]) == T.bytes("ABCDE"),
                    "the first end, even though that match is longer")
            #expect(reader.bufferedBytes == T.bytes("FG"))
            try reader.feedData(T.bytes("xy\r\n"))
            #expect(try await reader.readUntil(anyOf: [T.bytes("\r\n"), T.bytes("\n")]) == T.bytes("FGxy\r\n"))
        }
    }

    @Test("readUntil(anyOf:) and the limit: the shortest separator ending first is the match (test_readuntil_multi_separator_limit)")
    func readUntilAnyOfLimit() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 3)
            try reader.feedData(T.bytes("some dataA"))
            await #expect(throws: StreamError.limitOverrun(consumed: 9)) {
                try await reader.readUntil(anyOf: [T.bytes("A"), T.bytes("ome dataA")])
            }
            #expect(reader.bufferedBytes == T.bytes("some dataA"))
        }
    }

    @Test("readUntil(anyOf:) with data shorter than the longest separator (test_readuntil_multi_separator_negative_offset)")
    func readUntilAnyOfShortData() throws {
        try T.run { () async throws -> Void in
            let loop = try getRunningLoop()
            let reader = try StreamReader()
            try reader.feedData(T.bytes("data"))
            let readTask = loop.createTask { try await reader.readUntil(anyOf: [T.bytes("A"), T.bytes("long sep")]) }
            try loop.callSoon { try reader.feedData(T.bytes("Z")) }
            try loop.callSoon { try reader.feedData(T.bytes("Aaaa")) }
            #expect(try await T.value(of: readTask) == T.bytes("dataZA"))
            #expect(reader.bufferedBytes == T.bytes("aaa"))
        }
    }
}
