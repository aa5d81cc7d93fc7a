import Testing
@testable import MultiLoop
@testable import _MultiLoopEventLoop
@testable import _MultiLoopInbox
@testable import _MultiLoopSystem

/// A suspension must leave nothing behind: the resumer, the done callback (or timer) and what
/// they capture are freed once the wait is over. (The 10-minute stress run found a reference
/// cycle here: resumer -> token -> callback -> resumer, about 150 bytes per await.)
@Suite("Suspensions free what they allocated", .timeLimit(.minutes(5)))
struct SuspensionLeakTests {
    final class Payload: Sendable {}

    @Test("awaiting a pending future frees the future, its value and the callback once done")
    func awaitFreesEverything() throws {
        let freed = try run { () async throws -> [Bool] in
            let loop = try getRunningLoop()
            weak var weakFuture: Future<Payload>?
            weak var weakPayload: Payload?
            do {
                let future = loop.createFuture(of: Payload.self)
                weakFuture = future
                try loop.callSoon {
                    let payload = Payload()
                    try future.setResult(payload)
                }
                let payload = try await future.value  // suspends: the future is not done yet
                weakPayload = payload
            }
            try await sleep(0)
            try await sleep(0)
            return [weakFuture == nil, weakPayload == nil]
        }
        #expect(freed == [true, true])
    }

    /// What a resumer's token is in real use: something whose closure captures the resumer.
    final class Token: @unchecked Sendable {
        let resumer: OneShotResumer<Int, Token>
        init(_ resumer: OneShotResumer<Int, Token>) { self.resumer = resumer }
    }

    @Test("a resumer drops its token when its continuation is taken, and keeps none after")
    func resumerDropsItsToken() {
        let resumer = OneShotResumer<Int, Token>()
        weak var weakToken: Token?
        do {
            let token = Token(resumer)
            weakToken = token
            #expect(resumer.keep(token))
        }
        #expect(weakToken != nil, "kept until the wait is over: a cancel may need it")
        #expect(resumer.takeContinuation() == nil)
        #expect(weakToken == nil, "the wait is over: keeping the token would be a cycle")
        do {
            let late = Token(resumer)
            weakToken = late
            #expect(resumer.keep(late))
        }
        #expect(weakToken == nil, "a token kept after the wait ended is not stored")
    }

    @Test("a cancelled resumer hands its token back once and keeps none after")
    func cancelledResumer() {
        let resumer = OneShotResumer<Int, Token>()
        let token = Token(resumer)
        #expect(resumer.keep(token))
        let (continuation, handedBack) = resumer.cancel()
        #expect(continuation == nil)
        #expect(handedBack === token)
        #expect(!resumer.keep(Token(resumer)))
    }
}
