import _MultiLoopEventLoop
import _MultiLoopSystem
import CMultiLoopSystem

/// What MultiLoop keeps per loop above the loop layer: the loop's live tasks, its task factory,
/// its failed futures and its default executor. The loop holds it as its `EventLoopAttachment`
/// (made on first use, by whichever thread first needs it) and calls `loopDidClose` when it has
/// closed.
///
/// Threads, field by field:
/// - `taskLock` (a spin lock, word 0 of `words`) guards `liveTasks` and each task's
///   `liveIndex`, cancel requests and name (see `LoopTask`).
/// - `taskFactoryWord` (word 1): the current factory's box, stored with release and loaded with
///   acquire (`setTaskFactory` / `taskFactory`).
/// - `eagerlyStarting` and `taskNumbers` belong to the loop thread (like the loop's own
///   loop-thread state; the hand-over between owners is ordered by the loop's lifecycle lock).
/// - `defaultExecutor` is guarded by the loop's `lifecycleLock`, so that its lazy creation and
///   `close()` cannot cross (EventLoop+RunInExecutor.swift).
/// - `failures`, `failuresPruneAt` and `taskFactoryBoxes` are guarded by the loop's `errorLock`.
@usableFromInline
final class LoopState: EventLoopAttachment, @unchecked Sendable {
    let words = CacheAlignedWords(lines: 1)
    var taskLock: SpinLock { SpinLock(word: words.word(line: 0, index: 0)) }
    var taskFactoryWord: UnsafeMutablePointer<ml_word_t> { words.word(line: 0, index: 1) }

    /// The loop's tasks that are not done, in no order; each knows its index (O(1) removal).
    /// asyncio: `_all_tasks`.
    @exclusivity(unchecked) var liveTasks: [any LiveLoopTask] = []
    /// The task whose body `createTask(eager: true)` is running right now, before its Swift
    /// task is stored (`currentTask()`).
    @usableFromInline @exclusivity(unchecked) var eagerlyStarting: (any CancellableLoopTask)?
    /// The block of task numbers the loop thread hands out (see `nextTaskNumber`).
    @exclusivity(unchecked) var taskNumbers = (next: 0, end: 0)

    /// asyncio's `_default_executor` and `_executor_shutdown_called`.
    var defaultExecutor = DefaultExecutorState.none

    /// Futures of this loop that failed, to report at close if nobody retrieved their error
    /// (`Future+Retrieval.swift`); pruned when it reaches `failuresPruneAt`.
    var failures: [WeakFailure] = []
    var failuresPruneAt = 64
    /// Every task factory ever set (`setTaskFactory`): never freed while the loop lives, so a
    /// thread that loaded the factory word can still use the box it points to.
    var taskFactoryBoxes: [TaskFactoryBox] = []

    @usableFromInline init() {}

    /// After the loop's close: the default executor is shut down without waiting, then the
    /// failures nobody retrieved are reported.
    @usableFromInline
    func loopDidClose(_ loop: EventLoop) {
        loop.shutDownDefaultExecutorAtClose()
        loop.reportUnretrievedFailures()
    }
}

extension EventLoop {
    /// This loop's `LoopState`, made on first use. One acquire load once it exists.
    @usableFromInline
    var state: LoopState { attachment(orMake: LoopState.init) }
}
