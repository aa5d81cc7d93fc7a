import MultiLoop

/// A producer's load on a loop group that is about to shut down, and what it counts: the shutdown
/// scenario of the stress tool and `LoopGroupShutdownTests` run this same load and check the same
/// books (every accepted closure ran, every accepted task ran or was cancelled, nothing ran after
/// the shutdown returned).
package final class GroupShutdownLoad: Sendable {
    /// Set by the caller once `syncShutdownGracefully()` returned; work that finds it set counts
    /// in `ranAfter`.
    package let returned = StressFlag()
    package let closuresRun = StressCounter()
    package let tasksRun = StressCounter()
    package let ranAfter = StressCounter()
    package let acceptedClosures = StressCounter()
    /// Producers past their warm-up (or refused before it): the caller starts the shutdown once
    /// all of them are.
    package let started = StressCounter()

    package init() {}

    /// Submits closures and tasks (one in six, by `producer` and count) to `group` until it
    /// refuses; returns the accepted tasks' futures and the refusal. Counts itself in `started`
    /// after `warmUp` submissions, or at the refusal if that comes first.
    package func produce(_ producer: Int, group: LoopGroup, warmUp: Int)
        -> (futures: [Future<Int>], refusal: LoopGroupError) {
        var submitted = 0
        var futures: [Future<Int>] = []
        while true {
            do throws(LoopGroupError) {
                if (producer + submitted) % 6 == 0 {
                    futures.append(try group.submitTask { [self] () async throws -> Int in
                        try await EventLoop.sleep(0)
                        if returned.isSet { ranAfter.add() }
                        tasksRun.add()
                        return 1
                    })
                } else {
                    _ = try group.submit { [self] in
                        if returned.isSet { ranAfter.add() }
                        closuresRun.add()
                    }
                    acceptedClosures.add()
                }
            } catch {
                if submitted < warmUp { started.add() }
                return (futures, error)
            }
            submitted += 1
            if submitted == warmUp { started.add() }
        }
    }
}
