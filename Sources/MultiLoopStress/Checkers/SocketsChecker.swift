/// Checks the sockets scenario, from plain records: each reply as it arrives (`Replies`, one per
/// client connection), each request the server reads (`Requests`, one per accepted connection),
/// and each server generation once it is closed and every connection of it has ended (`settle`).
///
/// The invariants, exactly:
/// - a reply is the message sent on that connection, every byte of it, once, in order: a reply of
///   another connection, a repeat, a reply overtaking an earlier one, a reply never sent, a wrong
///   length or a wrong byte is a violation;
/// - per connection, the replies are all the messages sent, unless the connection was ended on
///   purpose (the client's abort or early close, the server's restart): then they are a prefix of
///   them, and the rest is "lost with its connection", never counted as delivered;
/// - the server reads each connection's messages in order, once each, intact;
/// - once a server generation is closed: every connection it accepted had its handler, is closed,
///   and was closed before `waitClosed` returned; every connection the server identified is one a
///   client opened, once; and none of the generation's sockets is still open.
///
/// Pure: the tests feed it corrupted records.
enum SocketsChecker {
    static let scenario = StressScenario.sockets.rawValue
    /// The kind of the violation `Server` is known to commit (docs/stress.md, "sockets").
    static let waitClosedEarly = "waitClosed early"

    /// How a client connection ended.
    enum Ending: Sendable, Equatable {
        /// The client closed it after every reply (the normal end).
        case complete
        /// The client shut its side down (`writeEOF`) and read every reply, then the server's EOF.
        case halfClosed
        /// The client reset it (`abort`) with replies outstanding.
        case abortedByClient
        /// The client closed it with replies outstanding (`close` stops reading at once).
        case closedByClient
        /// It ended by itself (EOF or error) while its server generation was being restarted.
        case lostWithRestart
        /// It ended by itself while its server was serving: nothing may end a healthy connection.
        case lostByServer(String)
        /// Abandoned after a violation (the framing cannot be trusted any more) or a stall.
        case broken

        /// Whether the replies may stop short of what was sent.
        var mayLoseReplies: Bool {
            switch self {
            case .complete, .halfClosed, .lostByServer: false
            case .abortedByClient, .closedByClient, .lostWithRestart, .broken: true
            }
        }
    }

    /// One client connection's books, kept as its replies arrive. The connection's loop thread only.
    struct Replies {
        let owner: SocketFrame.Owner
        /// Per message sent (sequence number = index): its payload length, and whether its reply came.
        private(set) var lengths: [Int] = []
        private var replied: [Bool] = []
        /// The lowest sequence number without a reply.
        private(set) var next = 0
        private(set) var repliesReceived = 0

        init(client: Int, connection: Int) { owner = SocketFrame.Owner(client: client, connection: connection) }

        var sent: Int { lengths.count }

        /// Takes note of the next message sent, of `length` payload bytes; returns its header.
        mutating func send(length: Int) -> SocketFrame.Header {
            lengths.append(length)
            replied.append(false)
            return SocketFrame.Header(client: owner.client, connection: owner.connection, sequence: lengths.count - 1,
                                      length: length)
        }

        /// Checks a reply: `header` as decoded (nil: the bytes were not a header) and its payload.
        /// No violation: the reply is the next message, intact.
        mutating func receive(header: SocketFrame.Header?, headerBytes: [UInt8] = [],
                              payload: [UInt8]) -> [StressViolation] {
            guard let header else {
                return [violation("bad frame", sequence: next, expected: "the header of reply \(next)",
                                  seen: "bytes that are not one: \(hex(headerBytes.prefix(16)))")]
            }
            guard header.owner == owner else {
                return [violation("foreign reply", sequence: next, expected: "reply \(next) of \(owner)",
                                  seen: "\(header)")]
            }
            let sequence = header.sequence
            guard sequence < sent else {
                return [violation("phantom reply", sequence: sequence, expected: "replies to the \(sent) message(s) sent",
                                  seen: "a reply to message \(sequence)")]
            }
            if replied[sequence] {
                return [violation("duplicate reply", sequence: sequence, expected: "one reply to message \(sequence)",
                                  seen: "a second one")]
            }
            var found: [StressViolation] = []
            if sequence != next {
                found.append(violation("reordered reply", sequence: sequence, expected: "reply \(next)",
                                       seen: "reply \(sequence) first"))
            }
            replied[sequence] = true
            repliesReceived += 1
            while next < sent && replied[next] { next += 1 }
            let sentHeader = SocketFrame.Header(client: owner.client, connection: owner.connection, sequence: sequence,
                                                length: lengths[sequence])
            if header.length != sentHeader.length {
                found.append(violation("wrong length", sequence: sequence,
                                       expected: "\(sentHeader.length) bytes, as sent", seen: "\(header.length)"))
            }
            if let offset = SocketFrame.firstMismatch(in: payload, of: sentHeader) {
                let seen = offset < payload.count ? String(payload[offset], radix: 16) : "the end"
                found.append(violation("corrupted reply", sequence: sequence,
                                       expected: "byte \(offset) of \(sentHeader) to be "
                                           + (offset < sentHeader.length
                                              ? String(SocketFrame.expectedByte(of: sentHeader, at: offset), radix: 16)
                                              : "the end"),
                                       seen: seen))
            }
            return found
        }

        /// Messages sent whose reply never came.
        var unanswered: Int { sent - repliesReceived }

        /// Checks the books once the connection has ended `ending`.
        func finish(_ ending: Ending) -> [StressViolation] {
            if case .lostByServer(let why) = ending {
                return [violation("dropped connection", sequence: next,
                                  expected: "the server to keep serving \(owner) (it was not restarted)",
                                  seen: "it ended (\(why)) after \(repliesReceived) of \(sent) replies")]
            }
            if !ending.mayLoseReplies, unanswered > 0 {
                return [violation("missing reply", sequence: next,
                                  expected: "a reply to each of the \(sent) message(s) of \(owner) (ended \(ending))",
                                  seen: "\(repliesReceived): none to message \(next)")]
            }
            // What came must be a prefix of what was sent: no hole before the last reply.
            if next < sent, let last = replied.lastIndex(of: true), last > next {
                return [violation("missing reply", sequence: next,
                                  expected: "the replies of \(owner) to be a prefix of its messages",
                                  seen: "no reply to message \(next), one to message \(last)")]
            }
            return []
        }

        private func violation(_ kind: String, sequence: Int, expected: String, seen: String) -> StressViolation {
            StressViolation(scenario: SocketsChecker.scenario, kind: kind, producer: owner.client, sequence: sequence,
                            expected: expected, seen: seen)
        }
    }

    /// What the server read on one accepted connection, checked as it reads. That connection's loop
    /// thread only.
    struct Requests {
        /// The server loop the connection runs on (for the reports).
        let loop: Int
        /// Whose connection it is: set by its first message.
        private(set) var owner: SocketFrame.Owner?
        private(set) var received = 0

        init(loop: Int) { self.loop = loop }

        /// Checks one message as the server read it. No violation: the next message, intact.
        mutating func receive(header: SocketFrame.Header?, headerBytes: [UInt8] = [],
                              payload: [UInt8]) -> [StressViolation] {
            guard let header else {
                return [violation("server: bad frame", client: owner?.client, sequence: received,
                                  expected: "the header of message \(received)",
                                  seen: "bytes that are not one: \(hex(headerBytes.prefix(16)))")]
            }
            if let owner, owner != header.owner {
                return [violation("server: foreign message", client: owner.client, sequence: received,
                                  expected: "message \(received) of \(owner)", seen: "\(header)")]
            }
            owner = header.owner
            var found: [StressViolation] = []
            if header.sequence != received {
                found.append(violation(header.sequence < received ? "server: duplicate message" : "server: lost message",
                                       client: header.client, sequence: header.sequence,
                                       expected: "message \(received) of \(header.owner)",
                                       seen: "message \(header.sequence)"))
            }
            if let offset = SocketFrame.firstMismatch(in: payload, of: header) {
                found.append(violation("server: corrupted message", client: header.client, sequence: header.sequence,
                                       expected: "byte \(offset) of \(header) as sent", seen: "another value"))
            }
            received = header.sequence + 1
            return found
        }

        private func violation(_ kind: String, client: Int?, sequence: Int, expected: String,
                               seen: String) -> StressViolation {
            StressViolation(scenario: SocketsChecker.scenario, kind: kind, loop: loop, producer: client,
                            sequence: sequence, expected: expected, seen: seen)
        }
    }

    /// A socket the scenario saw open: its fd and inode (an fd number is reused at once, an inode
    /// is not), and whose it was.
    struct SocketRecord: Sendable, Equatable {
        var fd: Int32
        var inode: UInt64
        var what: String
    }

    /// The books of one server generation (a TCP and a Unix server started together), once it is
    /// closed and every connection of it, on both sides, has ended.
    struct Generation: Sendable {
        var number: Int
        /// The servers' `activeConnections`, added up, as soon as their `waitClosed` returned; and
        /// the handlers that started after that on a connection still open. Both must be 0:
        /// `waitClosed` returns once every connection the server accepted is closed.
        var openAtWaitClosed: Int
        var handlersAfterWaitClosed: Int
        /// The servers' `acceptedCount`s, added up.
        var accepted: Int
        /// The servers' `activeConnections`, added up, now.
        var active: Int
        /// Handlers the servers ran (one per accepted connection), and what each identified: the
        /// owner of the messages it read (nil: it read none) and how many.
        var handlers: [(owner: SocketFrame.Owner?, received: Int)]
        /// Client connections made to this generation, and how many messages each sent.
        var clients: [SocketFrame.Owner: Int]
        /// The generation's sockets still open now (listeners, both ends of every connection).
        var stillOpen: [SocketRecord]
    }

    static func settle(_ books: Generation) -> [StressViolation] {
        var found: [StressViolation] = []
        func report(_ kind: String, client: Int? = nil, expected: String, seen: String) {
            found.append(StressViolation(scenario: scenario, kind: kind, producer: client, sequence: books.number,
                                         expected: expected, seen: seen))
        }
        let generation = "server generation \(books.number)"
        if books.openAtWaitClosed != 0 || books.handlersAfterWaitClosed != 0 {
            report(waitClosedEarly, expected: "waitClosed to return once every connection \(generation) accepted is closed",
                   seen: "\(books.openAtWaitClosed) open when it returned, \(books.handlersAfterWaitClosed) handler(s) "
                       + "started after it on an open connection")
        }
        if books.handlers.count != books.accepted {
            report("unhandled connection", expected: "a handler for each of the \(books.accepted) accepted",
                   seen: "\(books.handlers.count) handler(s)")
        }
        if books.active != 0 {
            report("connection left open", expected: "\(generation) to report every connection closed",
                   seen: "\(books.active) still open")
        }
        var identified: Set<SocketFrame.Owner> = []
        for handler in books.handlers {
            guard let owner = handler.owner else { continue }
            guard let sent = books.clients[owner] else {
                report("phantom connection", client: owner.client,
                       expected: "\(generation) to serve only the connections clients opened to it",
                       seen: "\(owner), \(handler.received) message(s)")
                continue
            }
            if !identified.insert(owner).inserted {
                report("duplicate connection", client: owner.client, expected: "\(owner) accepted once",
                       seen: "twice")
            }
            if handler.received > sent {
                report("server: phantom message", client: owner.client, expected: "at most the \(sent) sent on \(owner)",
                       seen: "\(handler.received) read")
            }
        }
        for socket in books.stillOpen {
            report("leaked fd", expected: "every socket of \(generation) closed",
                   seen: "fd \(socket.fd) (\(socket.what), inode \(socket.inode)) still open")
        }
        return found
    }

    /// The process's descriptors before and after the whole scenario: at most `slack` more.
    static func descriptors(before: Int, after: Int, slack: Int, extra: [String] = []) -> StressViolation? {
        guard after > before + slack else { return nil }
        return StressViolation(scenario: scenario, kind: "leaked fd",
                               expected: "at most \(before + slack) descriptors open after the scenario (\(before) before)",
                               seen: "\(after)" + (extra.isEmpty ? "" : ": " + extra.prefix(8).joined(separator: ", ")))
    }
}

private func hex(_ bytes: some Collection<UInt8>) -> String {
    bytes.map { String($0, radix: 16) }.joined(separator: " ")
}
