/// The books of one shutdown round, and what must balance.
///
/// Closures: every accepted one runs (exactly once: each run is counted). Tasks: every accepted
/// one either runs to completion or ends cancelled, and the cancelled ones are exactly those the
/// shutdown report counts (tasks it cancelled plus submissions it did not start). Nothing runs
/// after the shutdown returned, and every future the group handed out is complete.
struct ShutdownRound: Equatable {
    var round: Int
    var acceptedClosures: Int
    var closuresRun: Int
    var acceptedTasks: Int
    var tasksCompleted: Int
    var tasksCancelled: Int
    /// Futures not complete when the shutdown returned.
    var futuresPending: Int
    /// Closure or task bodies that ran after the shutdown returned.
    var ranAfterShutdown: Int
    /// From the shutdown report: tasks cancelled + submissions cancelled.
    var reportedCancelled: Int
    var reportedAbandoned: Int
}

enum ShutdownChecker {
    static func check(_ books: ShutdownRound) -> [StressViolation] {
        var violations: [StressViolation] = []
        func add(_ kind: String, _ expected: String, _ seen: String) {
            violations.append(StressViolation(scenario: StressScenario.shutdown.rawValue, kind: kind,
                                              sequence: books.round, expected: expected, seen: seen))
        }
        if books.closuresRun != books.acceptedClosures {
            add(books.closuresRun < books.acceptedClosures ? "lost" : "duplicate",
                "\(books.acceptedClosures) accepted closures run", "\(books.closuresRun)")
        }
        if books.tasksCompleted + books.tasksCancelled != books.acceptedTasks {
            add("unaccounted", "\(books.acceptedTasks) accepted tasks = completed + cancelled",
                "\(books.tasksCompleted) + \(books.tasksCancelled)")
        }
        if books.tasksCancelled != books.reportedCancelled {
            add("report", "\(books.tasksCancelled) cancelled futures reported",
                "\(books.reportedCancelled) in the shutdown report")
        }
        if books.futuresPending != 0 {
            add("future pending", "every future complete when shutdown returns", "\(books.futuresPending) pending")
        }
        if books.ranAfterShutdown != 0 {
            add("ran after shutdown", "nothing runs once shutdown returned", "\(books.ranAfterShutdown) ran")
        }
        if books.reportedAbandoned != 0 {
            add("abandoned", "no task outlives the grace period", "\(books.reportedAbandoned)")
        }
        return violations
    }
}
