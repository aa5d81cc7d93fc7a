@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A future's completion racing its done callback's registration (and, in some variants, a
/// cancel or the callback's removal), under the interleaving checker, with the real code:
/// `Future`'s claim, outcome, callback list (an `MPSCInbox` closed by the completer) and awaiter
/// slot, `DoneCallbackNode` and its scheduling through the completing thread's lane onto a loop
/// that sleeps whenever it finds nothing.
///
/// Threads: 0 runs the loop; 1 completes the future (`setResult(7)`); 2 registers a done callback
/// on the loop (and, with `.removeRacingCompletion`, removes it at once); 3 (with
/// `.completeCancelAndCallback`) cancels the future. The callback stops the loop; a removal that
/// succeeded stops it instead. A callback that is lost leaves the loop asleep for ever: the
/// checker reports the deadlock.
///
/// Checked after each run: exactly one completion won (`setResult` did not throw, or `cancel`
/// answered true); the callback ran at most once, and exactly once unless its removal succeeded,
/// and never after that; it saw the future done, with the winner's outcome.
final class FutureCompletionScenario: InterleavingScenario, @unchecked Sendable {
    enum Variant { case completeAndCallback, completeCancelAndCallback, removeRacingCompletion }

    let variant: Variant
    let loop: EventLoop
    let future: Future<Int>

    // Thread 1's, 2's and 3's results (one thread moves at a time; read after the run).
    private var resultSet = false
    private var cancelled = false
    private var removed = false
    private var errors: [String] = []
    // The loop thread's.
    private var callbackRuns = 0
    private var callbackSaw: String?

    init(_ variant: Variant) {
        self.variant = variant
        loop = try! EventLoop(spinBeforeSleep: .zero)
        future = Future<Int>(loop: loop)
    }

    var threadCount: Int { variant == .completeCancelAndCallback ? 4 : 3 }

    var wakers: [(eventFD: Int32, epollFD: Int32)] { [(loop.waker.eventFD, loop.waker.epollFD)] }

    func run(thread index: Int) {
        switch index {
        case 0:
            do { try loop.runForever() } catch { errors.append("runForever threw \(error)") }
        case 1:
            do {
                try future.setResult(7)
                resultSet = true
            } catch {
                // Only a cancel can come first.
            }
        case 2:
            do {
                let token = try future.addDoneCallback(on: loop) { [self] future in callbackRan(future) }
                if variant == .removeRacingCompletion {
                    removed = future.removeDoneCallback(token)
                    if removed { loop.stop() }
                }
            } catch {
                errors.append("addDoneCallback threw \(error)")
            }
        default:
            cancelled = future.cancel()
        }
        // What the thread's exit does: its lanes are abandoned.
        ProducerLanes.abandonCurrentThreadLanes()
    }

    /// The done callback, on the loop thread.
    private func callbackRan(_ future: Future<Int>) {
        callbackRuns += 1
        if !future.isDone {
            callbackSaw = "not done"
        } else if future.isCancelled {
            callbackSaw = "cancelled"
        } else {
            callbackSaw = (try? future.result()).map { "result \($0)" } ?? "an error"
        }
        loop.stop()
    }

    func unblockAfterAbort() {
        loop.stop()
    }

    func violations() -> [String] {
        var found = errors
        if resultSet == cancelled {
            found.append("setResult succeeded: \(resultSet), cancel succeeded: \(cancelled); exactly one must win")
        }
        let expectedRuns = removed ? 0 : 1
        if callbackRuns != expectedRuns {
            found.append("the callback ran \(callbackRuns) time(s); removal succeeded: \(removed)")
        }
        if callbackRuns > 0 {
            let expected = resultSet ? "result 7" : "cancelled"
            if callbackSaw != expected {
                found.append("the callback saw \(callbackSaw ?? "nothing"), expected \(expected)")
            }
        }
        return found + closeFindingNothingLeft(loop)
    }
}
