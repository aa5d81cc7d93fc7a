@_spi(MultiLoopInternals) import _MultiLoopEventLoop
import _MultiLoopSystem

/// Something waiting in a future's callback list. The completing thread calls
/// `futureDidComplete` on each, oldest registration first.
@usableFromInline
class FutureNode: Handle, @unchecked Sendable {
    /// Called once, on the completing thread, after the outcome is published. Must not run user
    /// code inline: schedule it, or signal a waiter.
    func futureDidComplete(_ future: AnyObject) {
        preconditionFailure("FutureNode.futureDidComplete must be overridden")
    }

    override var kindDescription: String { kind == .claimedCallback ? "done callback" : "waiter" }
}

/// A done callback: scheduled on its target loop when the future completes.
final class DoneCallbackNode<Value: Sendable>: FutureNode, @unchecked Sendable {
    /// The loop the callback runs on. Weak: the node may end up in an error context the loop's
    /// exception handler keeps (a callback whose loop closed), and a node that held its loop
    /// would then keep the loop alive through its own handler. A loop that went away runs
    /// nothing: the default handler is told.
    private weak var target: EventLoop?
    private let body: @Sendable (Future<Value>) throws -> Void
    /// Set by whoever schedules the node (the completer, or a registration that found the future
    /// done), before the scheduling publishes the node to the loop. Not set while registered, so
    /// that a pending future and its callbacks do not keep each other alive.
    var future: Future<Value>?

    init(target: EventLoop, file: StaticString, line: UInt, body: @escaping @Sendable (Future<Value>) throws -> Void) {
        self.target = target
        self.body = body
        super.init(kind: .claimedCallback, file: file, line: line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        if isCancelledForRun { return }  // removed before completion
        guard let target else {
            EventLoop.writeReport(EventLoopErrorContext(
                message: "a done callback could not be scheduled: its event loop no longer exists",
                error: EventLoopError.closed, handle: self))
            return
        }
        self.future = unsafeDowncast(future, to: Future<Value>.self)
        do {
            try target.schedule(self)
        } catch {
            // It will never run: drop the future (which may hold its loop) before the report.
            self.future = nil
            target.callExceptionHandler(EventLoopErrorContext(
                message: "a done callback could not be scheduled: its event loop is closed",
                error: error, handle: self))
        }
    }

    override func invoke() throws {
        guard let future else { return }
        self.future = nil
        try body(future)
    }
}
