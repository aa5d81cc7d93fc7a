/// `for try await line in reader`: the reader's lines, each with its newline (the last one
/// without, if the stream does not end with one), until the end of the stream.
/// asyncio: `async for line in reader` (`__anext__` is `readline()`, ending at `b''`).
///
/// Each step is a `readLine()`, with its errors (`StreamError.lineTooLong`, the error given to
/// `setException`, `CancellationError`, ...), which end the loop. Several iterators read the
/// same reader, one line each, in turn: they are not copies of the stream. After the end,
/// `next()` keeps returning nil.
extension StreamReader: AsyncSequence {
    public typealias Element = [UInt8]

    public struct AsyncIterator: AsyncIteratorProtocol, Sendable {
        let reader: StreamReader

        public mutating func next() async throws -> [UInt8]? {
            let line = try await reader.readLine()
            return line.isEmpty ? nil : line
        }
    }

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(reader: self)
    }
}
