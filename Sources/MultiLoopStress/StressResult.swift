import MultiLoop

/// What one scenario did.
public struct StressScenarioResult: Sendable, Codable, Equatable {
    public var scenario: String
    /// Operations checked (see `StressScenario.operation`).
    public var operations: UInt64
    public var seconds: Double
    public var operationsPerSecond: Double
    /// Latency of one operation (see `StressScenario.latency`); nil when none was measured.
    public var latency: LatencySummary?
    /// The loops' wake-ups (sleeps left) per operation, from the group statistics.
    public var wakeupsPerOperation: Double
    /// eventfd writes per operation, from the group statistics.
    public var eventfdWritesPerOperation: Double
    /// Broken invariants, all of them counted.
    public var violationCount: Int
    /// The first few, described.
    public var violations: [StressViolation]
    /// Scenario-specific counts ("timers cancelled", "rounds", ...).
    public var details: [String: Int]
}

/// The whole run: what was asked and what each scenario did.
public struct StressReport: Sendable, Codable, Equatable {
    public var configuration: StressConfiguration
    public var scenarios: [StressScenarioResult]

    /// True when every invariant held.
    public var passed: Bool { scenarios.allSatisfy { $0.violationCount == 0 } }

    /// The summary table, and the first violations if any.
    public func renderTable() -> String {
        let header = ["scenario", "operations", "ops/s", "p50", "p90", "p99", "p99.9", "max",
                      "wake-ups/op", "eventfd/op", "violations"]
        var rows = [header]
        for result in scenarios {
            let latency = result.latency
            rows.append([
                result.scenario,
                formatCount(Double(result.operations)),
                formatCount(result.operationsPerSecond),
                latency.map { formatNanoseconds($0.p50) } ?? "-",
                latency.map { formatNanoseconds($0.p90) } ?? "-",
                latency.map { formatNanoseconds($0.p99) } ?? "-",
                latency.map { formatNanoseconds($0.p999) } ?? "-",
                latency.map { formatNanoseconds($0.max) } ?? "-",
                String(format2: result.wakeupsPerOperation),
                String(format2: result.eventfdWritesPerOperation),
                "\(result.violationCount)",
            ])
        }
        let widths = header.indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        var lines = rows.map { row in
            row.enumerated().map { column, cell in
                column == 0 ? cell.padding(to: widths[column]) : cell.leftPadding(to: widths[column])
            }.joined(separator: "  ")
        }
        lines.insert(widths.map { String(repeating: "-", count: $0) }.joined(separator: "  "), at: 1)
        let configuration = self.configuration
        var text = "multiloop stress: \(configuration.loops) loops, \(configuration.producers) producers, "
            + (configuration.count.map { "\($0) operations per scenario" }
                ?? "\(String(format1: configuration.duration)) s in all")
            + ", seed \(configuration.seed)\(configuration.pin ? ", pinned" : "")\n"
        text += lines.joined(separator: "\n") + "\n"
        for result in scenarios where !result.details.isEmpty {
            text += "\(result.scenario): " + result.details.sorted { $0.key < $1.key }
                .map { "\($0.key) \($0.value)" }.joined(separator: ", ") + "\n"
        }
        let broken = scenarios.filter { $0.violationCount > 0 }
        if broken.isEmpty {
            text += "every invariant held\n"
        } else {
            for result in broken {
                text += "\(result.scenario): \(result.violationCount) violation(s); the first:\n"
                for violation in result.violations { text += "  \(violation)\n" }
            }
        }
        return text
    }
}

extension String {
    func padding(to width: Int) -> String { self + String(repeating: " ", count: Swift.max(0, width - count)) }
    func leftPadding(to width: Int) -> String { String(repeating: " ", count: Swift.max(0, width - count)) + self }
}

extension StressReport {
    /// The report as one JSON document (keys sorted, so runs diff well).
    public func renderJSON() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}\n" }
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}

import Foundation
