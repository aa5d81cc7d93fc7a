import MultiLoop
@testable import MultiLoopStress
import MultiLoopTestSupport
import Testing

/// A reply as the client reads it: the header's bytes, the header they decode to, the payload.
private struct Reply {
    var headerBytes: [UInt8]
    var payload: [UInt8]
    var header: SocketFrame.Header? { SocketFrame.Header(decoding: headerBytes) }

    init(_ header: SocketFrame.Header) {
        headerBytes = header.bytes
        payload = SocketFrame.payload(of: header)
    }
}

private func kinds(_ violations: [StressViolation]) -> [String] { violations.map(\.kind) }

/// Client 3's connection 7, with `count` messages sent; returns the books and the replies the
/// server would send back, in order.
private func connection(sending count: Int) -> (SocketsChecker.Replies, [Reply]) {
    var replies = SocketsChecker.Replies(client: 3, connection: 7)
    let lengths = [1, 8, 9, 1_000, 65_536, 17, 4_096]
    let sent = (0..<count).map { replies.send(length: lengths[$0 % lengths.count]) }
    return (replies, sent.map(Reply.init))
}

/// Feeds `replies` in that order; returns every violation.
private func feed(_ books: inout SocketsChecker.Replies, _ replies: [Reply]) -> [StressViolation] {
    replies.flatMap { books.receive(header: $0.header, headerBytes: $0.headerBytes, payload: $0.payload) }
}

/// `SocketsChecker` and `SocketFrame` fed correct records (no violation) and corrupted ones (each
/// reported with its kind), and short runs of the sockets scenario.
@Suite("Stress: sockets checker", .timeLimit(.minutes(5)))
struct SocketsCheckerTests {
    @Test("a message's header round-trips; damaged bytes are not a header")
    func frames() throws {
        let header = SocketFrame.Header(client: 70_000, connection: 12, sequence: 345, length: 65_536)
        #expect(SocketFrame.Header(decoding: header.bytes) == header)
        let message = SocketFrame.message(header)
        #expect(message.count == SocketFrame.headerSize + 65_536)
        #expect(SocketFrame.firstMismatch(in: Array(message.dropFirst(SocketFrame.headerSize)), of: header) == nil)
        for offset in [0, 5, 12, 17, 24, 31] {
            var damaged = header.bytes
            damaged[offset] ^= 0x10
            #expect(SocketFrame.Header(decoding: damaged) == nil, "byte \(offset)")
        }
        let tooLong = SocketFrame.Header(client: 1, connection: 1, sequence: 1, length: SocketFrame.maxPayload + 1)
        #expect(SocketFrame.Header(decoding: tooLong.bytes) == nil)
        // Two messages never share a pattern: not across connections, nor within one.
        let other = SocketFrame.Header(client: 70_000, connection: 13, sequence: 345, length: 65_536)
        #expect(SocketFrame.firstMismatch(in: SocketFrame.payload(of: other), of: header) == 0)
        let short = Array(SocketFrame.payload(of: header).prefix(100))
        #expect(SocketFrame.firstMismatch(in: short, of: header) == 100)
    }

    @Test("every reply once, in order: no violation, whatever the ending")
    func clean() {
        let (books, replies) = connection(sending: 7)
        var mutable = books
        #expect(feed(&mutable, replies).isEmpty)
        #expect(mutable.repliesReceived == 7 && mutable.unanswered == 0)
        for ending: SocketsChecker.Ending in [.complete, .halfClosed, .abortedByClient, .closedByClient,
                                               .lostWithRestart] {
            #expect(mutable.finish(ending).isEmpty, "\(ending)")
        }
    }

    @Test("a reordered reply is reported when it overtakes; the books balance once the other comes")
    func reordered() throws {
        var (books, replies) = connection(sending: 4)
        replies.swapAt(1, 2)
        let violations = feed(&books, replies)
        #expect(kinds(violations) == ["reordered reply"])
        let violation = try #require(violations.first)
        #expect(violation.scenario == "sockets" && violation.producer == 3 && violation.sequence == 2)
        #expect(violation.expected == "reply 1")
        #expect(books.finish(.complete).isEmpty)
    }

    @Test("a duplicate reply")
    func duplicate() {
        var (books, replies) = connection(sending: 3)
        replies.insert(replies[1], at: 2)
        #expect(kinds(feed(&books, replies)) == ["duplicate reply"])
        #expect(books.finish(.complete).isEmpty)
    }

    @Test("a byte of another connection's message in a reply")
    func byteOfAnotherConnection() throws {
        var (books, replies) = connection(sending: 5)
        // Reply 4 (65,536 bytes) with byte 40,000 taken from the same message of connection 8.
        let other = SocketFrame.payload(of: SocketFrame.Header(client: 3, connection: 8, sequence: 4, length: 65_536))
        let offset = (40_000..<40_100).first { other[$0] != replies[4].payload[$0] }!
        replies[4].payload[offset] = other[offset]
        let violations = feed(&books, replies)
        #expect(kinds(violations) == ["corrupted reply"])
        #expect(try #require(violations.first).expected.hasPrefix("byte \(offset) of message 4"))
    }

    @Test("a whole message of another connection in a reply")
    func messageOfAnotherConnection() {
        var (books, replies) = connection(sending: 2)
        replies[1] = Reply(SocketFrame.Header(client: 5, connection: 7, sequence: 1, length: 8))
        #expect(kinds(feed(&books, replies)) == ["foreign reply"])
        // Its own reply 1 never came: on a healthy connection that is a missing reply.
        #expect(kinds(books.finish(.complete)) == ["missing reply"])
    }

    @Test("a missing reply on a healthy connection; allowed, as a prefix, on a cut one")
    func missing() throws {
        var (books, replies) = connection(sending: 5)
        #expect(feed(&books, Array(replies.prefix(3))).isEmpty)
        for ending: SocketsChecker.Ending in [.complete, .halfClosed] {
            let violations = books.finish(ending)
            #expect(kinds(violations) == ["missing reply"], "\(ending)")
            #expect(try #require(violations.first).sequence == 3)
        }
        for ending: SocketsChecker.Ending in [.abortedByClient, .closedByClient, .lostWithRestart, .broken] {
            #expect(books.finish(ending).isEmpty, "\(ending)")
        }
        #expect(books.unanswered == 2)
        // A hole is not a prefix, however the connection ended.
        var holed = connection(sending: 5).0
        #expect(kinds(feed(&holed, [replies[0], replies[2]])) == ["reordered reply"])
        #expect(kinds(holed.finish(.lostWithRestart)) == ["missing reply"])
    }

    @Test("a connection of a server that was not restarted ends by itself")
    func dropped() {
        var (books, replies) = connection(sending: 3)
        #expect(feed(&books, Array(replies.prefix(3))).isEmpty)
        #expect(kinds(books.finish(.lostByServer("connection reset by peer"))) == ["dropped connection"])
    }

    @Test("a reply never sent, a wrong length, a lost framing")
    func phantomLengthFrame() {
        var (books, replies) = connection(sending: 2)
        #expect(kinds(feed(&books, [Reply(SocketFrame.Header(client: 3, connection: 7, sequence: 2, length: 8))]))
            == ["phantom reply"])

        (books, replies) = connection(sending: 2)
        var wrong = Reply(SocketFrame.Header(client: 3, connection: 7, sequence: 1, length: 9))
        wrong.payload = SocketFrame.payload(of: SocketFrame.Header(client: 3, connection: 7, sequence: 1, length: 9))
        #expect(kinds(feed(&books, [replies[0], wrong])) == ["wrong length", "corrupted reply"])

        (books, replies) = connection(sending: 1)
        replies[0].headerBytes[30] ^= 1
        #expect(kinds(feed(&books, replies)) == ["bad frame"])
    }

    @Test("the server's side: messages in order, once, intact, of one connection")
    func serverSide() {
        let messages = (0..<4).map { Reply(SocketFrame.Header(client: 2, connection: 9, sequence: $0, length: 100 * $0 + 1)) }
        func feed(_ list: [Reply]) -> ([String], SocketsChecker.Requests) {
            var requests = SocketsChecker.Requests(loop: 1)
            let found = list.flatMap { requests.receive(header: $0.header, headerBytes: $0.headerBytes, payload: $0.payload) }
            return (kinds(found), requests)
        }
        let (clean, requests) = feed(messages)
        #expect(clean.isEmpty)
        #expect(requests.owner == SocketFrame.Owner(client: 2, connection: 9) && requests.received == 4)
        #expect(feed([messages[0], messages[1], messages[1]]).0 == ["server: duplicate message"])
        #expect(feed([messages[0], messages[2]]).0 == ["server: lost message"])
        #expect(feed([messages[1]]).0 == ["server: lost message"])
        #expect(feed([messages[0], Reply(SocketFrame.Header(client: 2, connection: 10, sequence: 1, length: 5))]).0
            == ["server: foreign message"])
        var corrupted = messages[3]
        corrupted.payload[150] ^= 0x80
        #expect(feed(Array(messages.prefix(3)) + [corrupted]).0 == ["server: corrupted message"])
        var damaged = messages[0]
        damaged.headerBytes[0] = 0
        #expect(feed([damaged]).0 == ["server: bad frame"])
    }

    /// A generation whose books balance: 3 connections accepted, one of them closed before it
    /// sent anything.
    private func cleanGeneration() -> SocketsChecker.Generation {
        let a = SocketFrame.Owner(client: 0, connection: 4)
        let b = SocketFrame.Owner(client: 1, connection: 2)
        return SocketsChecker.Generation(
            number: 6, openAtWaitClosed: 0, handlersAfterWaitClosed: 0, accepted: 3, active: 0,
            handlers: [(a, 10), (b, 3), (nil, 0)], clients: [a: 10, b: 5, SocketFrame.Owner(client: 2, connection: 0): 1],
            stillOpen: [])
    }

    @Test("a generation whose books balance: no violation")
    func cleanSettle() {
        #expect(SocketsChecker.settle(cleanGeneration()).isEmpty)
    }

    @Test("a socket of a closed generation still open: a leaked fd")
    func leakedSocket() throws {
        var books = cleanGeneration()
        books.stillOpen = [SocketsChecker.SocketRecord(fd: 17, inode: 123_456, what: "client 1 connection 2")]
        let violations = SocketsChecker.settle(books)
        #expect(kinds(violations) == ["leaked fd"])
        #expect(try #require(violations.first).seen.contains("fd 17 (client 1 connection 2, inode 123456)"))
    }

    @Test("a closed server with a connection open, closed too early, or with an unhandled connection")
    func serverBooks() {
        var open = cleanGeneration()
        open.active = 1
        #expect(kinds(SocketsChecker.settle(open)) == ["connection left open"])
        var early = cleanGeneration()
        early.openAtWaitClosed = 2
        #expect(kinds(SocketsChecker.settle(early)) == [SocketsChecker.waitClosedEarly])
        var late = cleanGeneration()
        late.handlersAfterWaitClosed = 1
        #expect(kinds(SocketsChecker.settle(late)) == [SocketsChecker.waitClosedEarly])
        var unhandled = cleanGeneration()
        unhandled.accepted = 4
        #expect(kinds(SocketsChecker.settle(unhandled)) == ["unhandled connection"])
    }

    @Test("the server served a connection no client opened, one twice, or read more than was sent")
    func identities() {
        var phantom = cleanGeneration()
        phantom.handlers[2] = (SocketFrame.Owner(client: 9, connection: 9), 1)
        #expect(kinds(SocketsChecker.settle(phantom)) == ["phantom connection"])
        var twice = cleanGeneration()
        twice.handlers[2] = (SocketFrame.Owner(client: 1, connection: 2), 1)
        #expect(kinds(SocketsChecker.settle(twice)) == ["duplicate connection"])
        var more = cleanGeneration()
        more.handlers[1].received = 6
        #expect(kinds(SocketsChecker.settle(more)) == ["server: phantom message"])
    }

    @Test("more descriptors after the scenario than before, beyond the slack: a leaked fd")
    func descriptors() throws {
        #expect(SocketsChecker.descriptors(before: 10, after: 14, slack: 4) == nil)
        #expect(SocketsChecker.descriptors(before: 10, after: 9, slack: 4) == nil)
        let violation = try #require(SocketsChecker.descriptors(before: 10, after: 15, slack: 4, extra: ["21 socket:[99]"]))
        #expect(violation.kind == "leaked fd" && violation.seen == "15: 21 socket:[99]")
        // The scenario's own count agrees with /proc. Other suites open and close descriptors
        // meanwhile, so the two are compared in a moment when nothing changed around them (the
        // count taken before and after the listing agree); a count that disagrees with the
        // listing never matches, however often it is tried.
        var agreed: (count: Int, listed: Int)?
        for _ in 0..<200 where agreed == nil {
            let before = Descriptors.count
            let listed = Descriptors.open().count
            if Descriptors.count == before && listed == before { agreed = (before, listed) }
        }
        #expect(agreed != nil, "Descriptors.count and Descriptors.open() never agreed in 200 tries")
        #expect((agreed?.count ?? 0) >= 3)
        #expect(Descriptors.describe(-1) == nil)
    }

    @Test("the real scenario for 2 s: connections cut every way, servers restarted, every reply checked")
    func scenario() async {
        SocketsScenario.processIsShared.set()  // other tests open descriptors meanwhile
        let result = await offThePool {
            StressScenario.sockets.run(StressConfiguration(loops: 2, producers: 2, duration: 2, seed: 11),
                                       progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations > 0)
        #expect(result.latency != nil)
        for detail in ["restarts", "connections", "unix connections", "complete", "half-closed", "aborted",
                       "closed early", "messages lost with their connection"] {
            #expect((result.details[detail] ?? 0) > 0, "\(detail): \(result.details)")
        }
        #expect(result.details["clients"] == 16)
        #expect(result.details["fds before"] != nil && result.details["fds after"] != nil)
    }

    @Test("the real scenario in count mode does exactly the count")
    func scenarioCount() async {
        SocketsScenario.processIsShared.set()
        let result = await offThePool {
            StressScenario.sockets.run(StressConfiguration(loops: 2, producers: 2, count: 3_000, seed: 12),
                                       progress: StressProgress(write: nil))
        }
        #expect(result.violationCount == 0, "\(result.violations)")
        #expect(result.operations == 3_000)
    }
}
