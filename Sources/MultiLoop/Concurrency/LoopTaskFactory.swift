import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// Makes the tasks that `loop.createTask` (and so `gather`, `waitFor`, generators...) start on a
/// loop that has it set. asyncio: the `factory(loop, coro, **kwargs)` of
/// `loop.set_task_factory`.
///
/// A factory starts the task with `loop.makeTask(...)` (asyncio: `asyncio.Task(coro, loop=loop)`),
/// never with `loop.createTask`, which would call the factory again. It may wrap the operation
/// (to time it, log it, bind task-local values), change the name, or make the task eager; it
/// must return a task of `loop`.
public protocol LoopTaskFactory: Sendable {
    func createTask<Value: Sendable>(on loop: EventLoop, name: String?, eager: Bool,
                                     _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value>
}

/// The factory that starts every task eagerly (when created on the loop's thread): it runs at
/// once until its first suspension. asyncio 3.12: `asyncio.eager_task_factory`.
public struct EagerTaskFactory: LoopTaskFactory {
    public init() {}

    public func createTask<Value: Sendable>(on loop: EventLoop, name: String?, eager: Bool,
                                            _ operation: @escaping @Sendable () async throws -> Value) -> LoopTask<Value> {
        loop.makeTask(name: name, eager: true, operation)
    }
}

/// A factory, boxed so that its reference fits one atomic word.
final class TaskFactoryBox: Sendable {
    let factory: any LoopTaskFactory
    init(_ factory: any LoopTaskFactory) { self.factory = factory }
}

extension EventLoop {
    /// Sets the factory `createTask` uses; nil restores the default. asyncio:
    /// `loop.set_task_factory(factory)`. Any thread; tasks created at the same moment on other
    /// threads may be made by the old or the new factory.
    public func setTaskFactory(_ factory: (any LoopTaskFactory)?) {
        let box = factory.map(TaskFactoryBox.init)
        let state = self.state  // not under the lock: made under `lifecycleLock`
        errorLock.withLock {
            // Kept for the loop's lifetime: a thread may still be reading the previous one.
            if let box { state.taskFactoryBoxes.append(box) }
            let bits = box.map { ml_word_t(bitPattern: UInt(bitPattern: Unmanaged.passUnretained($0).toOpaque())) } ?? 0
            ml_store_release(state.taskFactoryWord, bits)
        }
    }

    /// The factory set with `setTaskFactory`, or nil. asyncio: `loop.get_task_factory()`.
    public var taskFactory: (any LoopTaskFactory)? {
        // Acquire: pairs with the release store above, so the box's contents are visible. The
        // box is never freed while the loop lives (`taskFactoryBoxes`).
        let bits = ml_load_acquire(state.taskFactoryWord)
        guard let pointer = UnsafeRawPointer(bitPattern: Int(bits)) else { return nil }
        return Unmanaged<TaskFactoryBox>.fromOpaque(pointer).takeUnretainedValue().factory
    }

    /// Whether a factory is set: the one load `createTask` pays without one.
    @usableFromInline
    var hasTaskFactory: Bool { ml_load_relaxed(state.taskFactoryWord) != 0 }
}
