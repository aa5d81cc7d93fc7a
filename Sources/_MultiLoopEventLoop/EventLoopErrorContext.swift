#if canImport(Glibc)
import _MultiLoopInbox
import _MultiLoopSystem
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What the loop's exception handler receives. asyncio: the `context` dict of
/// `call_exception_handler` (`message`, `exception`, `handle`).
public struct EventLoopErrorContext: Sendable, CustomStringConvertible {
    /// What happened, for a human.
    public var message: String
    /// The error, when there is one.
    public var error: (any Error)?
    /// The callback concerned, when it has a handle.
    public var handle: Handle?
    /// Where the callback concerned was scheduled (`file:line`), when there is one: the
    /// handle's location, or the place `execute` was called from (such callbacks have no handle).
    public var location: String?
    /// The name of the task concerned, when there is one (asyncio: the context's `task`, or the
    /// `future` a task's error was never retrieved from); `location` is then where the task was
    /// created.
    public var taskName: String?

    public init(message: String, error: (any Error)? = nil, handle: Handle? = nil, location: String? = nil,
                taskName: String? = nil) {
        self.message = message
        self.error = error
        self.handle = handle
        self.location = location ?? handle?.location
        self.taskName = taskName
    }

    init(message: String, error: any Error, location: CallbackLocation) {
        self.init(message: message, error: error, location: location.description)
    }

    public var description: String {
        var text = message
        if let taskName {
            text += "\n  task: \(taskName)"
            if let location { text += ", created at \(location)" }
        } else if let handle {
            text += "\n  handle: \(handle)"
        } else if let location {
            text += "\n  callback scheduled at \(location)"
        }
        if let error { text += "\n  error: \(String(reflecting: error))" }
        return text
    }
}

/// A loop's exception handler: called on the thread where the error surfaced (the loop thread
/// for a callback that threw). asyncio: `loop.set_exception_handler(handler)`.
public typealias EventLoopExceptionHandler = @Sendable (EventLoop, EventLoopErrorContext) -> Void

extension EventLoop {
    /// Replaces the exception handler (nil restores the default). Any thread.
    /// asyncio: `loop.set_exception_handler`.
    public func setExceptionHandler(_ handler: EventLoopExceptionHandler?) {
        errorLock.withLock { customExceptionHandler = handler }
    }

    /// The handler set with `setExceptionHandler`, or nil for the default.
    /// asyncio: `loop.get_exception_handler`.
    public var exceptionHandler: EventLoopExceptionHandler? {
        errorLock.withLock { customExceptionHandler }
    }

    /// Reports an error to the exception handler (or the default one). Any thread.
    /// asyncio: `loop.call_exception_handler(context)`.
    public func callExceptionHandler(_ context: EventLoopErrorContext) {
        if let handler = exceptionHandler {
            handler(self, context)
        } else {
            defaultExceptionHandler(context)
        }
    }

    /// The default handler: writes the context to standard error, one report per call.
    /// asyncio: `loop.default_exception_handler`, which logs it.
    public func defaultExceptionHandler(_ context: EventLoopErrorContext) {
        Self.writeReport(context)
    }

    /// What the default handler does, for a report that has no loop to go to (its loop no
    /// longer exists).
    package static func writeReport(_ context: EventLoopErrorContext) {
        // One write(2) per report, so reports from several loops do not interleave mid-line.
        var text = "MultiLoop: \(context)\n"
        text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    }
}
