import Testing
import MultiLoop
import MultiLoopExamples
import MultiLoopTestSupport

/// Each tutorial example prints exactly what its Python prints (times masked where they vary),
/// with its delays shortened.
@Suite("Tutorial examples: output", .timeLimit(.minutes(5)))
struct TutorialExampleOutputTests {
    typealias T = ExampleTesting

    @Test("the examples are the tutorial's, in its order")
    func names() {
        #expect(TutorialExamples.names
                == ["send", "yield-from", "hello-world", "say-after", "create-task", "gather", "lock"])
    }

    @Test("send: the consumer gets 5, 4 and 3, then the main loop stops")
    func send() throws {
        let (lines, _) = try T.run(try T.example("send"))
        #expect(lines == ["我拿到了5!", "我拿到了4!", "我拿到了3!", "我只要3,4,5就行啦"])
    }

    @Test("yield-from: both computations start, then both sums, in order")
    func yieldFrom() throws {
        let (lines, _) = try T.run(try T.example("yield-from"))
        #expect(lines == ["Compute 1 + 2 ...", "Compute 3 + 4 ...", "1 + 2 = 3", "3 + 4 = 7"])
    }

    @Test("yield-from (which gets, runs and closes its thread's loop) leaves the caller's loop setting as it found it")
    func yieldFromLeavesTheSetLoop() throws {
        // On a thread of the test's own, whose setting it clears before it ends: not on a thread
        // of Swift's pool, which other tests' code may run on next.
        let outcome = Locked<Result<Bool, any Error>?>(nil)
        JoinableThread {
            let result = Result { () throws -> Bool in
                let mine = try newEventLoop()
                setEventLoop(mine)
                defer { _ = try? mine.close() }
                _ = try T.run(try T.example("yield-from"))
                return try getEventLoop() === mine && !mine.isClosed
            }
            setEventLoop(nil)
            outcome.withLock { $0 = result }
        }.join()
        #expect(try outcome.value?.get() == true)
    }

    @Test("an example runs on a thread of its own: from a loop's thread too, whose running loop it leaves alone")
    func fromALoopsThread() throws {
        let (lines, stillRunning) = try run { () throws -> ([String], Bool) in
            let loop = try getRunningLoop()
            let (lines, _) = try T.run(try T.example("hello-world"))
            return (lines, try getRunningLoop() === loop)
        }
        #expect(lines == ["Hello ...", "... World!"])
        #expect(stillRunning)
    }

    @Test("hello-world: Hello, then World")
    func helloWorld() throws {
        let (lines, _) = try T.run(try T.example("hello-world"))
        #expect(lines == ["Hello ...", "... World!"])
    }

    @Test("say-after and create-task: started, hello, world, finished, with %X times")
    func sayAfter() throws {
        for name in ["say-after", "create-task"] {
            let (lines, _) = try T.run(try T.example(name))
            #expect(try T.maskingTimes(lines)
                    == ["started at HH:MM:SS", "hello", "world", "finished at HH:MM:SS"], "\(name)")
            let time = try Regex("^(started|finished) at [0-2][0-9]:[0-5][0-9]:[0-6][0-9]$")
            #expect(lines.filter { $0.wholeMatch(of: time) != nil }.count == 2, "\(name): \(lines)")
        }
    }

    @Test("gather: the results in argument order, as Python prints a list")
    func gather() throws {
        let (lines, _) = try T.run(try T.example("gather"))
        #expect(lines == ["[1, 2]"])
    }

    @Test("lock: each task's read-wait-write is whole and they take turns in order; no increment is lost")
    func lock() throws {
        let (lines, _) = try T.run(try T.example("lock"))
        #expect(lines == ["A: 0 -> 1", "B: 1 -> 2", "C: 2 -> 3", "counter = 3"])
    }
}
