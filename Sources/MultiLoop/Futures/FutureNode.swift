/// Something waiting in a future's callback list. The completing thread calls
/// `futureDidComplete` on each, oldest registration first.
@usableFromInline
class FutureNode: Handle, @unchecked Sendable {
    /// Called once, on the completing thread, after the outcome is published. Must not run user
    /// code inline: schedule it, or signal a waiter.
    func futureDidComplete(_ future: AnyObject) {
        preconditionFailure("FutureNode.futureDidComplete must be overridden")
    }
}

/// A done callback: scheduled on its target loop when the future completes.
final class DoneCallbackNode<Value: Sendable>: FutureNode, @unchecked Sendable {
    let target: EventLoop
    private let body: @Sendable (Future<Value>) throws -> Void
    /// Set by whoever schedules the node (the completer, or a registration that found the future
    /// done), before the scheduling publishes the node to the loop. Not set while registered, so
    /// that a pending future and its callbacks do not keep each other alive.
    var future: Future<Value>?

    init(target: EventLoop, file: StaticString, line: UInt, body: @escaping @Sendable (Future<Value>) throws -> Void) {
        self.target = target
        self.body = body
        super.init(kind: .doneCallback, file: file, line: line)
    }

    override func futureDidComplete(_ future: AnyObject) {
        if isCancelledForRun { return }  // removed before completion
        self.future = unsafeDowncast(future, to: Future<Value>.self)
        do {
            try target.schedule(self)
        } catch {
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
