import Testing
@testable import MultiLoopStress
import MultiLoopTestSupport

/// `make test` runs every scenario briefly (also under ThreadSanitizer): each must hold its
/// invariants, and do some work.
@Suite("Stress: a short run of every scenario", .serialized, .timeLimit(.minutes(5)))
struct ShortStressTests {
    @Test("a short run holds every invariant", arguments: StressScenario.allCases)
    func shortRun(scenario: StressScenario) async {
        let configuration = StressConfiguration(loops: 2, producers: 2, duration: 0.3, seed: 42)
        SocketsScenario.processIsShared.set()  // other tests open descriptors meanwhile
        let result = await offThePool { scenario.run(configuration, progress: StressProgress(write: nil)) }

        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
    }

    @Test("the report renders as a table and as JSON")
    func rendering() async {
        let configuration = StressConfiguration(loops: 2, producers: 2, count: 2_000, seed: 7)
        let report = await offThePool {
            StressRunner.run([.fanIn], configuration: configuration,
                             progress: StressProgress(write: nil), showProgress: false, terminal: false)
        }
        #expect(report.passed)
        #expect(report.scenarios.first?.operations == 2_000)
        let table = report.renderTable()
        #expect(table.contains("fan-in"))
        #expect(table.contains("every invariant held"))
        let json = report.renderJSON()
        #expect(json.contains("\"scenario\" : \"fan-in\""))
        #expect(json.contains("\"violationCount\" : 0"))
    }
}
