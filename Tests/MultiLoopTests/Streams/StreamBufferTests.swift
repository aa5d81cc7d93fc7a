import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// The reader's buffer: correct against a plain array, and, the echo path's contract, a steady
/// stream stops allocating storage (the only allocation of a read is the array it returns).
@Suite("StreamReader's buffer: contents, search, storage reuse", .timeLimit(.minutes(5)))
struct StreamBufferTests {
    typealias T = StreamTesting

    @Test("random feeds, receives, takes and drops match a plain array (seeded)", arguments: [1, 2, 3] as [UInt64])
    func matchesAnArray(seed: UInt64) {
        var random = StressRandom(seed: seed)
        var buffer = StreamBuffer(retainedCapacity: 1 << 14)
        var model: [UInt8] = []
        var next: UInt8 = 0
        func fresh(_ count: Int) -> [UInt8] {
            (0..<count).map { _ in
                next &+= 1
                return next
            }
        }
        for step in 0..<20_000 {
            let size = random.below(random.below(10) == 0 ? 20_000 : 300)
            switch random.below(6) {
            case 0:
                let bytes = fresh(size)
                bytes.withUnsafeBytes { buffer.append($0) }
                model += bytes
            case 1:
                let bytes = fresh(size)
                buffer.append(contentsOf: bytes.lazy.map { $0 })  // not contiguous
                model += bytes
            case 2:
                let bytes = fresh(size)
                let room = buffer.reserveSpare(size + 7)
                room.copyMemory(from: bytes, byteCount: size)
                buffer.commit(size)
                model += bytes
            case 3:
                let taken = buffer.take(size)
                #expect(taken == Array(model.prefix(size)), "step \(step)")
                model.removeFirst(min(size, model.count))
            case 4:
                buffer.removeFirst(size)
                model.removeFirst(min(size, model.count))
            default:
                if random.below(20) == 0 {
                    buffer.removeAll()
                    model.removeAll()
                }
            }
            #expect(buffer.count == model.count, "step \(step)")
            if step % 97 == 0 { #expect(buffer.copyBytes() == model, "step \(step)") }
        }
        #expect(buffer.takeAll() == model)
        #expect(buffer.isEmpty && buffer.take(5) == [])
    }

    @Test("firstOccurrence: memchr then compare, from an offset, at the edges")
    func firstOccurrence() {
        var buffer = StreamBuffer(retainedCapacity: 1 << 16)
        func find(_ separator: String, from offset: Int = 0) -> Int? {
            T.bytes(separator).withUnsafeBytes { buffer.firstOccurrence(of: $0, from: offset) }
        }
        #expect(find("a") == nil, "empty")
        T.bytes("xxaaab\nab").withUnsafeBytes { buffer.append($0) }
        buffer.removeFirst(1)  // "xaaab\nab": the search starts at the read index
        #expect(find("x") == 0)
        #expect(find("aab") == 2, "a partial match (aa·a) does not hide the real one")
        #expect(find("ab") == 3 && find("ab", from: 4) == 6)
        #expect(find("\n") == 5 && find("\n", from: 6) == nil)
        #expect(find("b", from: 7) == 7, "the last byte")
        #expect(find("ab", from: 7) == nil, "not enough bytes left")
        #expect(find("xaaab\nab") == 0 && find("xaaab\nabc") == nil)
        #expect(find("a", from: 9) == nil && find("a", from: 100) == nil)
    }

    @Test("an echo loop of varied message sizes stops allocating after the first message")
    func echoStopsAllocating() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader()
            var random = StressRandom(seed: 7)
            var allocationsAfterWarmUp = 0
            var capacityAfterWarmUp = 0
            for message in 0..<5_000 {
                let size = 1 + random.below(4096)
                let fill = UInt8(truncatingIfNeeded: message)
                _ = try reader.feed(capacity: 4096) { room in
                    for index in 0..<size { room[index] = fill }
                    return size
                }
                let echoed = try await reader.read(4096)
                #expect(echoed.count == size && echoed.first == fill && echoed.last == fill)
                if message == 0 {
                    allocationsAfterWarmUp = reader.bufferAllocations ?? -1
                    capacityAfterWarmUp = reader.bufferCapacity ?? -1
                }
            }
            #expect(allocationsAfterWarmUp == 1)
            #expect(reader.bufferAllocations == allocationsAfterWarmUp, "no allocation after the first message")
            #expect(reader.bufferCapacity == capacityAfterWarmUp)
        }
    }

    @Test("lines split across receives: the capacity stops growing once the stream is steady")
    func splitLinesStopGrowing() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 1024)
            let line = T.bytes(String(repeating: "0123456789", count: 7) + "\n")  // 71 bytes
            let stream = Array(repeating: line, count: 40).flatMap { $0 }
            var sent = 0, linesRead = 0
            var allocationsAfterWarmUp = 0, capacityAfterWarmUp = 0
            for round in 0..<2_000 {
                // Receives of 100 bytes (the last line of each is incomplete), then every whole line.
                let chunk = Array(stream[(sent % 2840)...].prefix(100))
                _ = try reader.feed(capacity: 100) { room in
                    room.copyBytes(from: chunk)
                    return chunk.count
                }
                sent += chunk.count
                while reader.bufferedBytes?.contains(0x0A) == true {
                    #expect(try await reader.readLine() == line)
                    linesRead += 1
                }
                if round == 100 {
                    allocationsAfterWarmUp = reader.bufferAllocations ?? -1
                    capacityAfterWarmUp = reader.bufferCapacity ?? -1
                }
            }
            #expect(linesRead == sent / 71)
            #expect(reader.bufferAllocations == allocationsAfterWarmUp && allocationsAfterWarmUp <= 2)
            #expect(reader.bufferCapacity == capacityAfterWarmUp && capacityAfterWarmUp <= 4096)
        }
    }

    @Test("a burst larger than the retained capacity gives its storage back once read")
    func burstIsGivenBack() throws {
        try T.run { () async throws -> Void in
            let reader = try StreamReader(limit: 1024)  // retains up to 64 KiB
            try reader.feedData([UInt8](repeating: 1, count: 200_000))
            #expect((reader.bufferCapacity ?? 0) >= 200_000)
            #expect(try await reader.read(150_000).count == 150_000)
            #expect((reader.bufferCapacity ?? 0) >= 200_000, "kept while it holds bytes")
            #expect(try await reader.read(100_000).count == 50_000)
            #expect(reader.bufferCapacity == 0, "emptied: the storage is freed")
            try reader.feedData([1, 2, 3])
            #expect(reader.bufferCapacity == StreamBuffer.minimumCapacity)
            #expect(try await reader.read(10) == [1, 2, 3])
            #expect(reader.bufferCapacity == StreamBuffer.minimumCapacity, "a small buffer is kept")
        }
    }
}
