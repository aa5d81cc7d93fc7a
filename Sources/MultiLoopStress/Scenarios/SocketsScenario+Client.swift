import MultiLoop
import _MultiLoopSystem
import MultiLoopTestSupport

extension SocketsScenario {
    /// One client: a task of its loop that opens connections one after the other, to the current
    /// server generation (TCP or Unix at random), until the time is up or its share of messages
    /// got their replies.
    final class Client: @unchecked Sendable {
        let index: Int
        let loop: EventLoop
        let latency: LatencyRecorder
        /// Its share of replies in count mode; nil in duration mode.
        let budget: Int?
        /// Bumped at every step (a reply, a connection opened or ended): the watchdog's sign of life.
        let steps = StressCounter()
        /// Bumped by the watchdog when it aborts the client's connection.
        let watchdogAborts = StressCounter()

        private let lock = PThreadMutex()
        // Guarded by `lock` (the watchdog reads them):
        private var currentWriter: StreamWriter?
        private var doing = "starting"

        // The client's loop thread only (its tasks); read by the scenario's thread once its task
        // has ended.
        var random: StressRandom
        /// Replies checked, and messages sent on the current connection without a reply yet.
        var replied = 0
        var outstanding = 0
        var tally = Tally()

        // The scenario's thread only.
        var task: LoopTask<Void>?
        var watch = Watch()

        init(index: Int, loop: EventLoop, latency: LatencyRecorder, budget: Int?, random: StressRandom) {
            self.index = index
            self.loop = loop
            self.latency = latency
            self.budget = budget
            self.random = random
        }

        /// Whether to open another connection.
        func mayConnect(_ context: ScenarioContext) -> Bool {
            budget.map { replied < $0 } ?? !context.timeIsUp
        }

        /// Whether to send another message (count mode: the replies to come may not pass the share).
        func maySend(_ context: ScenarioContext) -> Bool {
            budget.map { replied + outstanding < $0 } ?? !context.timeIsUp
        }

        /// Says what the client is doing now, and which connection the watchdog may reset (nil:
        /// none).
        func now(_ what: String, connection writer: StreamWriter? = nil) {
            lock.withLock {
                currentWriter = writer
                doing = what
            }
        }

        /// What the client is doing, for a stall report.
        var status: String { lock.withLock { doing } }

        /// The watchdog: resets the current connection (its reads and drains end).
        func abortConnection() {
            watchdogAborts.add()
            lock.withLock { currentWriter }?.abort()
        }
    }

    /// What a client counts (its loop thread only).
    struct Tally {
        var connections = 0
        var unix = 0
        var complete = 0
        var halfClosed = 0
        var aborted = 0
        var closedEarly = 0
        var lostWithRestart = 0
        var broken = 0
        /// Messages sent whose reply never came, their connection ended first.
        var messagesLost = 0
        /// Connects to a generation being retired, tried again on the next one.
        var reconnects = 0

        mutating func add(_ other: Tally) {
            connections += other.connections
            unix += other.unix
            complete += other.complete
            halfClosed += other.halfClosed
            aborted += other.aborted
            closedEarly += other.closedEarly
            lostWithRestart += other.lostWithRestart
            broken += other.broken
            messagesLost += other.messagesLost
            reconnects += other.reconnects
        }
    }

    /// The watchdog's view of a client (the scenario's thread).
    struct Watch {
        var lastSteps = 0
        var lastChange: Int64 = 0
        /// 0: fine; 1: its connection was aborted; 2: its task was cancelled; 3: given up.
        var level = 0
    }

    /// How a connection is to go: its messages, its window, and how it ends.
    struct Plan {
        enum Ending { case complete, halfClose, abort, closeEarly }
        var messages: Int
        /// Messages the writer may have queued for the reader beyond the one it reads (AsyncQueue's size).
        var window: Int
        var ending: Ending
        /// After which message an abort or early close happens.
        var breakAt: Int

        init(_ random: inout StressRandom) {
            messages = 1 + random.below(1 + random.below(maxMessagesPerConnection))
            window = 1 + random.below(3)
            let roll = random.below(100)
            ending = roll < 55 ? .complete : roll < 75 ? .halfClose : roll < 88 ? .abort : .closeEarly
            breakAt = random.below(messages)
        }
    }

    /// A payload length from 1 byte to 64 KiB, about log-uniform: a power of two from 1 to 32 KiB,
    /// plus up to as much again.
    static func randomLength(_ random: inout StressRandom) -> Int {
        let power = 1 << random.below(16)
        return power + random.below(power + 1)
    }

    /// One connection's state, shared by its reader (the client's task) and its writer task, both
    /// on the client's loop: its thread only.
    final class Connection: @unchecked Sendable {
        var replies: SocketsChecker.Replies
        /// When each message was written (by sequence number).
        var stamps: [Int64] = []
        /// Set by the writer when it ends the connection itself (abort, early close, half-close).
        var ending: SocketsChecker.Ending?
        /// Set by the writer when a write or drain failed.
        var writerFailure: String?

        init(client: Int, number: Int) { replies = SocketsChecker.Replies(client: client, connection: number) }
    }

    /// The client's task: connections, one after the other.
    static func runClient(_ client: Client, _ shared: Shared) async {
        while client.mayConnect(shared.context) {
            guard let (generation, reader, writer) = await connect(client, shared) else { break }
            await runConnection(client, generation, reader, writer, shared)
        }
        client.now("done")
    }

    /// Opens a connection to the current generation; nil when the time is up, or after repeated
    /// failures on a serving generation (each reported).
    static func connect(_ client: Client, _ shared: Shared) async
        -> (Generation, StreamReader, StreamWriter)? {
        var failures = 0
        while client.mayConnect(shared.context) {
            let generation = shared.current
            let unix = client.random.below(2) == 0
            let address = unix ? generation.unixAddress : generation.tcpAddress
            client.now("connecting to \(address) (generation \(generation.number))")
            generation.clientsBegun.add()
            do {
                let (reader, writer) = try await client.loop.openConnection(to: address)
                client.tally.unix += unix ? 1 : 0
                // Open here, on the connection's loop thread, which alone closes it.
                if !writer.isClosing, let inode = Descriptors.socketInode(writer.fileDescriptor) {
                    generation.record(sockets: [SocketsChecker.SocketRecord(
                        fd: writer.fileDescriptor, inode: inode,
                        what: "client \(client.index) connection \(client.tally.connections)")])
                }
                return (generation, reader, writer)
            } catch {
                generation.clientsEnded.add()
                if generation.retiring.isSet {
                    client.tally.reconnects += 1  // closed under us by a restart: the next one serves
                    continue
                }
                failures += 1
                shared.context.violation("connect failed", producer: client.index,
                                         expected: "\(address) (generation \(generation.number), serving) to accept",
                                         seen: "\(error)")
                if failures >= 3 { return nil }
                try? await EventLoop.sleep(0.01)
            }
        }
        return nil
    }

    /// One connection: a writer task sends the plan's messages, this task reads and checks the
    /// replies; then the connection ends as planned (or as it happened), and its books are checked.
    static func runConnection(_ client: Client, _ generation: Generation, _ reader: StreamReader,
                              _ writer: StreamWriter, _ shared: Shared) async {
        let number = client.tally.connections
        client.tally.connections += 1
        let plan = Plan(&client.random)
        let connection = Connection(client: client.index, number: number)
        let watchdogMark = client.watchdogAborts.value
        client.now("connection \(number) to generation \(generation.number)", connection: writer)
        client.steps.add()
        // The reader's work list: a sequence number per message written, nil after the last.
        let queue = AsyncQueue<Int?>(maxSize: plan.window)
        let writing = client.loop.createTask { await writeMessages(plan, connection, client, writer, queue, shared) }

        var ending = await readReplies(connection, client, generation, watchdogMark, reader, writer, queue, shared)
        _ = writing.cancel()  // if it still waits for room in the queue
        _ = try? await writing.value
        if ending == .halfClosed {
            // Every reply came; the server closes once it has read our EOF: nothing more may come.
            do {
                let rest = try await reader.read()
                if !rest.isEmpty {
                    shared.context.violation("extra bytes", producer: client.index, sequence: connection.replies.sent,
                                             expected: "the server's EOF after the last reply",
                                             seen: "\(rest.count) more byte(s)")
                    ending = .broken
                }
            } catch {
                ending = endedByItself("\(error) after the last reply", connection, client, generation, watchdogMark)
            }
        }
        if ending != .broken, client.watchdogAborts.value != watchdogMark { ending = .broken }
        writer.close()
        client.now("closing connection \(number)", connection: writer)  // the watchdog may still reset it
        try? await writer.waitClosed()
        client.now("between connections")
        shared.context.violations.record(connection.replies.finish(ending))
        tally(ending, connection, client)
        client.outstanding = 0  // lost with their connection, if any: sent again on the next
        generation.recordClient(connection.replies.owner, sent: connection.replies.sent)
        generation.clientsEnded.add()
        client.steps.add()
    }

    /// How a connection that ended by itself (an EOF or an error where a reply was due, a write
    /// that failed) ended: as the client meant it if it had just aborted or closed it; else with
    /// the restart of its generation, if that is under way; else it was dropped (a violation).
    /// Abandoned when the watchdog reset it (`mark`: its count of resets when the connection began).
    private static func endedByItself(_ why: String, _ connection: Connection, _ client: Client,
                                      _ generation: Generation, _ mark: Int) -> SocketsChecker.Ending {
        if client.watchdogAborts.value != mark { return .broken }
        if let ending = connection.ending, ending != .halfClosed { return ending }
        return generation.retiring.isSet ? .lostWithRestart : .lostByServer(why)
    }

    /// Reads and checks a reply for every sequence number the writer queues; returns how the
    /// connection ended.
    private static func readReplies(_ connection: Connection, _ client: Client, _ generation: Generation,
                                    _ watchdogMark: Int, _ reader: StreamReader, _ writer: StreamWriter,
                                    _ queue: AsyncQueue<Int?>, _ shared: Shared) async -> SocketsChecker.Ending {
        let context = shared.context
        while true {
            let next: Int?
            do {
                next = try await queue.get()
            } catch {
                return .broken  // cancelled: the watchdog gave up on this client
            }
            guard let sequence = next else {
                // The writer is done: with every reply read, the connection ends as it said.
                if let failure = connection.writerFailure {
                    return endedByItself(failure, connection, client, generation, watchdogMark)
                }
                if client.watchdogAborts.value != watchdogMark { return .broken }
                return connection.ending ?? .complete
            }
            do {
                let headerBytes = try await reader.readExactly(SocketFrame.headerSize)
                let header = SocketFrame.Header(decoding: headerBytes)
                let payload = try await reader.readExactly(header?.length ?? 0)
                let violations = connection.replies.receive(header: header, headerBytes: headerBytes, payload: payload)
                if !violations.isEmpty {
                    context.violations.record(violations)
                    writer.abort()  // the framing cannot be trusted any more
                    return .broken
                }
                client.latency.record(nanoseconds: monotonicNanoseconds() - connection.stamps[sequence])
                client.replied += 1
                client.outstanding -= 1
                client.steps.add()
                context.progress.addOperations(1)
            } catch {
                return endedByItself("\(error) where reply \(sequence) was due", connection, client, generation,
                                     watchdogMark)
            }
        }
    }

    /// Writes the plan's messages (queueing each one's sequence number for the reader first),
    /// then ends the connection as planned.
    private static func writeMessages(_ plan: Plan, _ connection: Connection, _ client: Client,
                                      _ writer: StreamWriter, _ queue: AsyncQueue<Int?>, _ shared: Shared) async {
        for index in 0..<plan.messages {
            guard client.maySend(shared.context) else { break }
            let header = connection.replies.send(length: randomLength(&client.random))
            client.outstanding += 1
            connection.stamps.append(monotonicNanoseconds())
            do {
                try await queue.put(header.sequence)
                try writer.write(SocketFrame.message(header))
                try await writer.drain()
            } catch {
                connection.writerFailure = "\(error)"
                break
            }
            if index == plan.breakAt {
                if plan.ending == .abort {
                    connection.ending = .abortedByClient
                    writer.abort()
                    break
                }
                if plan.ending == .closeEarly {
                    connection.ending = .closedByClient
                    writer.close()
                    break
                }
            }
        }
        if plan.ending == .halfClose, connection.ending == nil, connection.writerFailure == nil {
            connection.ending = .halfClosed
            writer.writeEOF()
        }
        try? await queue.put(nil)
    }

    private static func tally(_ ending: SocketsChecker.Ending, _ connection: Connection, _ client: Client) {
        switch ending {
        case .complete: client.tally.complete += 1
        case .halfClosed: client.tally.halfClosed += 1
        case .abortedByClient: client.tally.aborted += 1
        case .closedByClient: client.tally.closedEarly += 1
        case .lostWithRestart: client.tally.lostWithRestart += 1
        case .lostByServer, .broken: client.tally.broken += 1
        }
        if ending.mayLoseReplies { client.tally.messagesLost += connection.replies.unanswered }
    }
}
