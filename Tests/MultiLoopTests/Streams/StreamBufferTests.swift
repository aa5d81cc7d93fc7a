import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopSystem

/// The reader's buffer: correct against a plain array.
@Suite("StreamReader's buffer: contents, search, storage reuse", .timeLimit(.minutes(5)))
struct StreamBufferTests {

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
            Array(separator.utf8).withUnsafeBytes { buffer.firstOccurrence(of: $0, from: offset) }
        }
        #expect(find("a") == nil, "empty")
        Array("xxaaab\nab".utf8).withUnsafeBytes { buffer.append($0) }
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
}
