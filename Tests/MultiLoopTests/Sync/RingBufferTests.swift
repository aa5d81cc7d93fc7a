import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

@Suite("RingBuffer (AsyncQueue's storage)", .timeLimit(.minutes(5)))
struct RingBufferTests {
    @Test("append, prepend and popFirst agree with an array, across wrap-arounds and growth")
    func agreesWithAnArray() {
        var ring = RingBuffer<Int>()
        var model: [Int] = []
        var generator = StressRandom(seed: 42)
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
}
