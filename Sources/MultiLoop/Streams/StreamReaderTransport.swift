/// What a `StreamReader` asks of the transport that feeds it: to stop and restart reading from
/// the socket when the reader holds too much (flow control). The socket layer's transports
/// conform; tests use a fake. asyncio: the `pause_reading()` / `resume_reading()` of
/// `asyncio.ReadTransport`.
///
/// The reader calls these on its loop's thread, never both at once, and alternately: a
/// `pauseReading()` is followed by one `resumeReading()` before the next `pauseReading()`
/// (unless the transport is replaced or gone meanwhile). A transport must not call back into
/// the reader's buffer-changing methods from inside them (it may schedule such work).
package protocol StreamReaderTransport: AnyObject {
    /// Stop delivering data: the reader holds more than twice its limit.
    func pauseReading()
    /// Deliver data again: the reader's buffer fell to its limit or below, or a read is about to
    /// wait for data (waiting while paused would never end).
    func resumeReading()
}
