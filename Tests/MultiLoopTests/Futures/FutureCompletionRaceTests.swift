#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// Completion from any thread: exactly one completer wins, and every thread then reads the
/// winner's outcome.
@Suite("Future completion races", .timeLimit(.minutes(5)))
struct FutureCompletionRaceTests {
    typealias Boom = FutureTesting.Boom
    typealias StartLine = FutureTesting.StartLine

    static let rounds = 200
    static let threads = 4

    @Test("when 4 threads race to setResult, exactly one succeeds and the future holds its value (200 rounds)",
          arguments: 0..<3)
    func setResultRace(repetition: Int) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        for round in 0..<Self.rounds {
            let future = loop.createFuture(of: Int.self)
            let winners = Locked<[Int]>([])
            let losersWithWrongError = Locked(0)
            let start = StartLine(parties: Self.threads)
            JoinableThread.runAll(Self.threads) { index in
                start.arriveAndWait()
                do {
                    try future.setResult(index)
                    winners.withLock { $0.append(index) }
                } catch {
                    if error as? InvalidStateError != .alreadyDone { losersWithWrongError.withLock { $0 += 1 } }
                }
            }
            let won = winners.value
            try #require(won.count == 1, "round \(round): \(won.count) winners")
            #expect(try future.result() == won[0])
            #expect(losersWithWrongError.value == 0)
        }
    }

    @Test("when setResult, setException and cancel race, exactly one wins and the state is the winner's (200 rounds)",
          arguments: 0..<3)
    func mixedCompletionRace(repetition: Int) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        for round in 0..<Self.rounds {
            let future = loop.createFuture(of: Int.self)
            let winners = Locked<[Int]>([])
            let start = StartLine(parties: Self.threads)
            JoinableThread.runAll(Self.threads) { index in
                start.arriveAndWait()
                let won: Bool
                switch index {
                case 0, 1: won = (try? future.setResult(index)) != nil
                case 2: won = (try? future.setException(Boom(code: index))) != nil
                default: won = future.cancel(message: "thread \(index)")
                }
                if won { winners.withLock { $0.append(index) } }
            }
            let won = winners.value
            try #require(won.count == 1, "round \(round): winners \(won)")
            switch won[0] {
            case 0, 1:
                #expect(try future.result() == won[0])
                #expect(!future.isCancelled)
            case 2:
                #expect(throws: Boom(code: 2)) { try future.result() }
                #expect(!future.isCancelled)
            default:
                #expect(future.isCancelled)
                #expect(throws: CancelledError(message: "thread 3")) { try future.result() }
            }
        }
    }

    @Test("a value set on one thread is read intact on another thread once isDone is true",
          arguments: 0..<3)
    func publication(repetition: Int) throws {
        let loop = try EventLoop()
        defer { _ = try? loop.close() }
        for round in 0..<Self.rounds {
            let future = loop.createFuture(of: [Int].self)
            let expected = Array(round..<(round + 64))
            let seen = Locked<[Int]?>(nil)
            let reader = JoinableThread {
                while !future.isDone { sched_yield() }
                seen.withLock { $0 = try? future.result() }
            }
            try future.setResult(expected)
            reader.join()
            #expect(seen.value == expected)
        }
    }
}
