import CMultiLoopSystem
import MultiLoop
import _MultiLoopSystem

/// One broken invariant, described precisely enough to find it again: where (scenario, loop,
/// producer, sequence number) and what was expected against what was seen.
public struct StressViolation: Sendable, Codable, Equatable, CustomStringConvertible {
    public var scenario: String
    /// What kind of breakage: "lost", "duplicate", "reordered", "early", "fired after cancel", ...
    public var kind: String
    public var loop: Int?
    public var producer: Int?
    public var sequence: Int?
    public var expected: String
    public var seen: String

    public init(scenario: String, kind: String, loop: Int? = nil, producer: Int? = nil, sequence: Int? = nil,
                expected: String, seen: String) {
        self.scenario = scenario
        self.kind = kind
        self.loop = loop
        self.producer = producer
        self.sequence = sequence
        self.expected = expected
        self.seen = seen
    }

    public var description: String {
        var place = [scenario]
        if let loop { place.append("loop \(loop)") }
        if let producer { place.append("producer \(producer)") }
        if let sequence { place.append("sequence \(sequence)") }
        return "\(kind) (\(place.joined(separator: ", "))): expected \(expected), saw \(seen)"
    }
}

/// Collects violations from any thread: counts them all, keeps the first few.
final class ViolationLog: @unchecked Sendable {
    static let kept = 10
    private let lock = PThreadMutex()
    private var first: [StressViolation] = []
    private var total = 0
    private let progress: StressProgress?

    init(progress: StressProgress? = nil) {
        self.progress = progress
    }

    func record(_ violation: StressViolation) {
        lock.withLock {
            total += 1
            if first.count < Self.kept { first.append(violation) }
        }
        progress?.addViolations(1)
    }

    func record(_ violations: [StressViolation]) {
        for violation in violations { record(violation) }
    }

    var count: Int { lock.withLock { total } }
    var firstFew: [StressViolation] { lock.withLock { first } }
}
