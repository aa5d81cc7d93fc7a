/// What `multiloop stress` runs with: the options of the command line.
public struct StressConfiguration: Sendable, Codable, Equatable {
    /// Loops of the group under test.
    public var loops: Int
    /// External producer threads (fan-in, shutdown, faults); the sockets scenario's clients get as
    /// many loops of their own.
    public var producers: Int
    /// Seconds for the whole run, shared equally by the scenarios (used when `count` is nil).
    /// `StressScenario.run` takes it as the scenario's own time.
    public var duration: Double
    /// Operations per scenario instead of a duration (what an operation is depends on the
    /// scenario: a callback, a hop, a timer, a critical section, a submission, a reply).
    public var count: Int?
    /// Seed of every random choice (delays, cancellations, faults), so a failing run can be
    /// repeated.
    public var seed: UInt64
    /// Pin loop `i` to the `i`-th usable CPU.
    public var pin: Bool
    /// Each loop's spin before sleeping, in microseconds.
    public var spinMicroseconds: Int

    public init(loops: Int = 2, producers: Int = 4, duration: Double = 60, count: Int? = nil,
                seed: UInt64 = 1, pin: Bool = false, spinMicroseconds: Int = 20) {
        self.loops = loops
        self.producers = producers
        self.duration = duration
        self.count = count
        self.seed = seed
        self.pin = pin
        self.spinMicroseconds = spinMicroseconds
    }

    /// The CPUs this thread may run on (the default number of loops).
    public static var usableCPUs: Int { max(1, Int(ml_usable_cpu_count())) }

    /// A group as configured.
    func makeGroup(name: String) throws -> LoopGroup {
        try LoopGroup(loops: loops, name: name, pinToCores: pin,
                      spinBeforeSleep: .microseconds(spinMicroseconds))
    }
}

import MultiLoop
import _MultiLoopSystem
import CMultiLoopSystem
