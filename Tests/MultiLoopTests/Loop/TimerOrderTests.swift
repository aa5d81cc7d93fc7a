import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem
import MultiLoopTestSupport

/// The timer heap's contract, checked exactly: deadline order, FIFO for equal deadlines, never
/// early, and the cancelled count a rebuild leaves. asyncio's timers (a heapq of TimerHandles):
/// test_base_events' test__run_once and test_call_later; MultiLoop also fixes the order of equal
/// deadlines, which asyncio leaves unspecified.
@Suite("Timer order and deadlines", .timeLimit(.minutes(5)))
struct TimerOrderTests {
    @Test("timers with equal deadlines fire in the order they reached the loop, from another thread and from the loop")
    func equalDeadlinesFireInOrder() throws {
        let loop = try EventLoop()
        let order = LoopConfined<[Int]>([])
        let when = loop.time() - 1  // due at once
        // The loop does not run yet: these travel through this thread's lane, in order.
        for index in 0..<50 { try loop.callAt(when) { order.value.append(index) } }
        try loop.callAt(when) {
            // On the loop thread: 50 more at one deadline, straight into the heap.
            for index in 50..<100 { _ = try? loop.callAt(when) { order.value.append(index) } }
            _ = try? loop.callAt(when) { loop.stop() }
        }
        try loop.runForever()
        try loop.close()
        #expect(order.value == Array(0..<100))
    }

    @Test("due timers fire in deadline order, whatever order they were scheduled in")
    func dueTimersFireInDeadlineOrder() throws {
        let loop = try EventLoop()
        // 1000 distinct deadlines, all in the past, in a seeded random order: the first iteration
        // pops all of them, in heap order, which must be deadline order.
        var random = StressRandom(seed: 13)
        var shuffled = (0..<1000).map { Double($0) * 0.001 }
        for index in shuffled.indices.reversed() { shuffled.swapAt(index, random.below(index + 1)) }
        let offsets = shuffled
        let base = loop.time() - 10
        let fired = LoopConfined<[Double]>([])
        for offset in offsets { try loop.callAt(base + offset) { fired.value.append(offset) } }
        try loop.callAt(base + 5) {
            // And again from the loop thread, into a heap that is being emptied meanwhile.
            let later = loop.time() - 5
            for offset in offsets { _ = try? loop.callAt(later + offset) { fired.value.append(5 + offset) } }
            _ = try? loop.callAt(later + 2) { loop.stop() }
        }
        try loop.runForever()
        try loop.close()
        let expected = offsets.sorted() + offsets.sorted().map { 5 + $0 }
        #expect(fired.value.count == expected.count)
        #expect(fired.value == expected, "first out of order at \((0..<min(fired.value.count, expected.count)).first { fired.value[$0] != expected[$0] } ?? -1)")
    }

    /// asyncio's `_run_once` skips a handle cancelled after it became ready
    /// (`if handle._cancelled: continue`); here the loop's claim is what loses to the cancel.
    @Test("a timer cancelled by an earlier callback of the same iteration does not run, and the cancel answers true")
    func timerCancelledInItsBatchDoesNotRun() throws {
        let loop = try EventLoop()
        let ran = LoopConfined<[String]>([])
        let victim = LoopConfined<TimerHandle?>(nil)
        let answer = LoopConfined<Bool?>(nil)
        let when = loop.time() - 1  // all three are due in the first iteration, in this order
        try loop.callAt(when) {
            answer.value = victim.value?.cancel()
            ran.value.append("first")
        }
        victim.value = try loop.callAt(when + 0.001) { ran.value.append("victim") }
        try loop.callAt(when + 0.002) {
            ran.value.append("last")
            loop.stop()
        }
        try loop.runForever()
        try loop.close()
        #expect(ran.value == ["first", "last"])
        #expect(answer.value == true)
        #expect(victim.value?.isCancelled == true)
        #expect(loop.cancelledTimers.value == 0)
    }

    @Test("no timer fires before its deadline")
    func noTimerFiresEarly() throws {
        let loop = try EventLoop()
        let early = LoopConfined<[Double]>([])
        let fired = LoopConfined(0)
        let start = loop.time()
        let count = 200
        // 0.1 ms apart, over 20 ms: closer together than any tolerance a loop might allow itself.
        for index in 0..<count {
            let when = start + 0.02 + Double(index) * 0.000_1
            try loop.callAt(when) {
                fired.value += 1
                let now = loop.time()
                if now < when { early.value.append(when - now) }
            }
        }
        try loop.callAt(start + 0.02 + Double(count) * 0.000_1 + 0.001) { loop.stop() }
        try loop.runForever()
        try loop.close()
        #expect(fired.value == count)
        #expect(early.value.isEmpty, "\(early.value.count) timers fired early, by up to \(early.value.max() ?? 0) s")
    }

    @Test("a rebuild of the heap takes the cancelled timers it removes off the cancelled count")
    func rebuildKeepsTheCancelledCount() throws {
        let loop = try EventLoop()
        try withLoopOnThread(loop) {
            let handles = try onLoop(loop) {
                try (0..<1000).map { index in try loop.callLater(3600 + Double(index)) {} }
            }
            // The latest 600: never at the top of the heap, so only a rebuild removes them.
            // Cancelled on the loop thread, so that no iteration runs in between.
            let counted = try onLoop(loop) {
                for handle in handles.suffix(600) { handle.cancel() }
                return [loop.cancelledTimers.value, loop.timers.count, loop.timers.rebuilds]
            }
            #expect(counted[0] == 600 && counted[1] == 1000)
            let after = try onLoop(loop) { [loop.cancelledTimers.value, loop.timers.count, loop.timers.rebuilds] }
            #expect(after[1] == 400, "the next iteration rebuilds the heap without the 600")
            #expect(after[2] == counted[2] + 1)
            #expect(after[0] == 0, "the cancelled count still says \(after[0])")
            for handle in handles.prefix(400) { handle.cancel() }
        }
    }
}
