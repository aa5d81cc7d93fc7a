import Testing
@testable import MultiLoop

@Suite("RingBuffer (AsyncQueue's storage)")
struct RingBufferTests {
    @Test("append, prepend and popFirst agree with an array, across wrap-arounds and growth")
    func agreesWithAnArray() {
        var ring = RingBuffer<Int>()
        var model: [Int] = []
        var generator = SplitMix(seed: 42)
        for step in 0..<5_000 {
            switch generator.next() % 5 {
            case 0, 1:
                ring.append(step)
                model.append(step)
            case 2:
                ring.prepend(step)
                model.insert(step, at: 0)
            default:
                #expect(ring.popFirst() == (model.isEmpty ? nil : model.removeFirst()))
            }
            #expect(ring.count == model.count && ring.isEmpty == model.isEmpty)
        }
        while let element = ring.popFirst() { #expect(element == model.removeFirst()) }
        #expect(model.isEmpty)
    }

    /// A tiny deterministic generator, so that a failure can be replayed.
    struct SplitMix {
        var state: UInt64
        init(seed: UInt64) { state = seed }
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
