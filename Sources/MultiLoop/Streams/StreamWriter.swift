import _MultiLoopSystem

/// The writing half of a connection from `openConnection` or `startServer`.
/// asyncio equivalent: `asyncio.StreamWriter`.
///
/// `write` sends at once when nothing is queued (no copy, no allocation), and queues what the
/// socket does not take; the loop sends the queue as the socket drains. `drain()` is the
/// backpressure: it waits while the queue is above the high-water mark (64 KiB by default)
/// until it falls to the low-water mark (16 KiB), so a writer faster than its reader waits
/// instead of growing the queue without bound. Call it after writing, as in asyncio:
/// `try writer.write(data); try await writer.drain()`.
///
/// Threads: any thread or task may call every method (the write side is locked; see
/// `StreamTransport`); the connection's reading half and its callbacks belong to the loop it
/// was opened on.
///
/// Not guaranteed: a successful `write` (or `drain`) says the bytes are queued or handed to the
/// kernel, not that the peer received them.
public final class StreamWriter: @unchecked Sendable, CustomStringConvertible {
    let transport: StreamTransport

    /// The reader of the same connection (asyncio's writer holds it too: `drain` reports its error).
    public var reader: StreamReader { transport.reader }

    /// The loop the connection runs on.
    public var loop: EventLoop { transport.loop }

    /// What this writer was asked: `close()` or `abort()` (`closeAsked`), `writeEOF()` (`eofAsked`).
    /// Read only when the transport refuses a write, to tell the caller's own close from a
    /// connection that ended by itself.
    private let asked = LockedValue<(closeAsked: Bool, eofAsked: Bool)>((false, false))

    init(transport: StreamTransport) {
        self.transport = transport
    }

    /// A writer dropped while its connection is open closes the connection (after sending what
    /// is queued), as asyncio's `StreamWriter.__del__` does (without its `ResourceWarning`):
    /// nothing else would, since the loop's reader callback keeps the transport alive.
    deinit {
        if !transport.isClosing { transport.close() }
    }

    /// The transport's refusal of a write, as this writer reports it: `.writeAfterClose` only
    /// after this writer's `close()`/`abort()`, `.writeAfterEOF` after its `writeEOF()`; nil (the
    /// bytes are dropped, as asyncio does) when the connection ended otherwise: lost, reset by
    /// the peer, closed by `Server.closeClients()`, or both directions done.
    private func refusal(_ error: StreamError) -> StreamError? {
        guard error == .writeAfterClose else { return error }
        let (closeAsked, eofAsked) = asked.value
        if closeAsked { return .writeAfterClose }
        return eofAsked ? .writeAfterEOF : nil
    }

    /// Writes `bytes`: sent now if nothing is queued, else queued. asyncio: `writer.write(data)`.
    ///
    /// - Throws: `StreamError.writeAfterClose` after this writer's `close()` or `abort()`,
    ///   `.writeAfterEOF` after its `writeEOF()` (asyncio: `RuntimeError`). After the connection
    ///   ended otherwise (lost, reset by the peer, closed by `Server.closeClients()`) the bytes
    ///   are dropped, as asyncio does; `drain()` throws the loss.
    public func write(_ bytes: [UInt8]) throws(StreamError) {
        let failure = bytes.withUnsafeBytes { buffer -> StreamError? in
            do throws(StreamError) { try transport.write(buffer) } catch { return error }
            return nil
        }
        if let failure, let refused = refusal(failure) { throw refused }
    }

    /// Writes the bytes of `buffer` (copied if they have to be queued).
    public func write(_ buffer: UnsafeRawBufferPointer) throws(StreamError) {
        do throws(StreamError) {
            try transport.write(buffer)
        } catch {
            if let refused = refusal(error) { throw refused }
        }
    }

    /// Writes the UTF-8 bytes of `text`.
    public func write(_ text: String) throws(StreamError) {
        var text = text
        let failure = text.withUTF8 { buffer -> StreamError? in
            do throws(StreamError) { try transport.write(UnsafeRawBufferPointer(buffer)) } catch { return error }
            return nil
        }
        if let failure, let refused = refusal(failure) { throw refused }
    }

    /// Writes each of `chunks` in order. asyncio: `writer.writelines(data)`.
    public func writeLines(_ chunks: [[UInt8]]) throws(StreamError) {
        for chunk in chunks { try write(chunk) }
    }

    /// Waits while too much is queued (see the type's notes). asyncio: `await writer.drain()`.
    ///
    /// - Throws: the reader's exception if it has one (asyncio does the same); the connection's
    ///   failure (`SocketError.connectionReset`, `.brokenPipe`, ...) once it is lost;
    ///   `SocketError.closed` after `close()`; `CancellationError`.
    ///
    /// `nonisolated(nonsending)`: it runs on the caller's executor (an actor's too), with no
    /// hop, and returns at once unless it must wait.
    nonisolated(nonsending) public func drain() async throws {
        if let error = transport.reader.exception { throw error }
        try await transport.drain()
    }

    /// Shuts the sending side down (a TCP FIN) once everything written is sent; the connection
    /// can still read. asyncio: `writer.write_eof()`.
    public func writeEOF() {
        asked.withLock { $0.eofAsked = true }
        transport.writeEOF()
    }

    /// Always true for sockets. asyncio: `writer.can_write_eof()`.
    public var canWriteEOF: Bool { true }

    /// Closes the connection once everything written is sent; stops reading at once.
    /// asyncio: `writer.close()`. Idempotent.
    public func close() {
        asked.withLock { $0.closeAsked = true }
        transport.close()
    }

    /// Closes at once, dropping what is queued. asyncio: `writer.transport.abort()`.
    public func abort() {
        asked.withLock { $0.closeAsked = true }
        transport.abort()
    }

    /// Whether `close()` was called or the connection is lost. asyncio: `writer.is_closing()`.
    public var isClosing: Bool { transport.isClosing }

    /// Waits until the connection is closed (its fd released). asyncio: `await writer.wait_closed()`.
    public func waitClosed() async throws { try await transport.waitClosed() }

    /// Bytes queued, not yet sent. asyncio: `writer.transport.get_write_buffer_size()`.
    public var writeBufferSize: Int { transport.writeBufferSize }

    /// Sets the marks `drain()` uses. asyncio: `writer.transport.set_write_buffer_limits(high, low)`;
    /// with only `high`, low is a quarter of it, as asyncio's.
    public func setWriteBufferLimits(high: Int, low: Int? = nil) {
        let high = max(0, high)
        transport.setWriteBufferLimits(high: high, low: min(high, max(0, low ?? high / 4)))
    }

    /// The peer's address. asyncio: `writer.get_extra_info('peername')`.
    public var peerAddress: SocketAddress? { try? Socket.peerAddress(transport.fd) }

    /// The local address. asyncio: `writer.get_extra_info('sockname')`.
    public var localAddress: SocketAddress? { try? Socket.localAddress(transport.fd) }

    /// The socket's file descriptor (asyncio: `get_extra_info('socket')`). Do not read, write or
    /// close it yourself: the connection owns it.
    public var fileDescriptor: Int32 { transport.fd }

    public var description: String {
        "<StreamWriter fd=\(transport.fd)\(isClosing ? " closing" : "")>"
    }
}
