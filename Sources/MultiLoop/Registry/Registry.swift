import _MultiLoopEventLoop
import _MultiLoopSystem

/// The per-thread registry: which loop runs on this thread, and which loop belongs to it.
///
/// Two thread-local slots, one per pthread:
/// - the *running* loop, set by `runForever` (and `close`) for as long as they run, and
/// - the *set* loop, chosen with `setEventLoop` (a strong reference, released when replaced or
///   when the thread exits).
/// Neither is ever shared between threads, so no synchronization is involved.
enum Registry {
    static let setLoop = ThreadLocalSlot<EventLoop>(retaining: true)
}

/// The loop running on the calling thread. asyncio: `asyncio.get_running_loop()`.
///
/// - Throws: `EventLoopError.noRunningLoop` when no loop runs on this thread.
public func getRunningLoop() throws(EventLoopError) -> EventLoop {
    guard let loop = EventLoop.runningOnThisThread.value else { throw .noRunningLoop }
    return loop
}

/// This thread's loop: the running loop if there is one; else the loop set with
/// `setEventLoop`; else a new loop, which is created and set for this thread.
/// asyncio: `asyncio.get_event_loop()` as the tutorial describes it (and as Python before 3.12
/// did on the main thread); recent Pythons warn or raise instead of creating one.
///
/// - Throws: `EventLoopError.systemCallFailed` if a new loop was needed and could not be created.
public func getEventLoop() throws(EventLoopError) -> EventLoop {
    if let running = EventLoop.runningOnThisThread.value { return running }
    if let current = Registry.setLoop.value { return current }
    let loop = try EventLoop()
    Registry.setLoop.set(loop)
    return loop
}

/// Sets (or with nil clears) the calling thread's loop. asyncio: `asyncio.set_event_loop(loop)`.
///
/// It does not affect a loop that is running on this thread: `getEventLoop()` keeps returning
/// the running one while it runs. The thread keeps a strong reference to the set loop.
public func setEventLoop(_ loop: EventLoop?) {
    Registry.setLoop.set(loop)
}

/// A new loop, not running and not set as any thread's loop. asyncio: `asyncio.new_event_loop()`.
///
/// An alias of `EventLoop()` (docs/api-guidelines.md, "Aliases"): Swift's initializer, and
/// asyncio's factory for code ported from asyncio.
///
/// - Throws: `EventLoopError.systemCallFailed` if its eventfd or epoll instance cannot be made.
public func newEventLoop() throws(EventLoopError) -> EventLoop {
    try EventLoop()
}
