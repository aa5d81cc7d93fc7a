#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The bytes a `StreamReader` holds: one allocation, the bytes in `[readIndex, writeIndex)` and
/// spare room after them, where the socket layer receives straight into it (`reserveSpare`,
/// then `commit`). asyncio: the reader's `bytearray`.
///
/// Memory, the contract the echo path relies on (`StreamBufferTests` checks it):
/// - Taking bytes moves the read index; a buffer emptied this way starts again at 0. So a
///   stream whose reads keep up with its feeds never moves a byte nor allocates: the storage
///   is reused message after message, and the only allocation of a read is the `[UInt8]` it
///   returns.
/// - When a feed needs more room at the end, the live bytes move to the front if the bytes
///   already taken are at least as many as those still held (each byte taken pays for at most
///   one byte moved); otherwise the storage doubles (or grows to what is needed). So the
///   capacity stays within about twice the largest amount held at once plus one feed.
/// - An emptied buffer whose capacity exceeds the owner's `retainedCapacity` gives its storage
///   back, so that one burst does not keep its memory for the life of the connection.
///
/// Not synchronized: its owner confines it to one thread (the reader's loop thread).
/// Not copyable: exactly one owner frees the storage.
struct StreamBuffer: ~Copyable {
    private var storage: UnsafeMutableRawPointer?
    /// The size of `storage` in bytes.
    private(set) var capacity = 0
    private var readIndex = 0
    private var writeIndex = 0
    /// An emptied buffer larger than this frees its storage.
    let retainedCapacity: Int
    /// How many times storage was allocated (tests check that a steady stream stops
    /// allocating).
    private(set) var allocations = 0

    /// The smallest storage allocated: a few small feeds fit in it.
    static let minimumCapacity = 4096

    init(retainedCapacity: Int) {
        self.retainedCapacity = retainedCapacity
    }

    deinit {
        storage?.deallocate()
    }

    /// The number of bytes held.
    var count: Int { writeIndex - readIndex }
    var isEmpty: Bool { readIndex == writeIndex }

    /// The byte at `offset` from the first one held. `offset < count`.
    func byte(at offset: Int) -> UInt8 {
        storage!.load(fromByteOffset: readIndex + offset, as: UInt8.self)
    }

    /// Makes room for at least `extra` bytes after the last one held and returns where they go:
    /// write them there, then `commit` how many were written. The pointer is valid until the
    /// next mutating call.
    mutating func reserveSpare(_ extra: Int) -> UnsafeMutableRawPointer {
        precondition(extra >= 0, "a negative amount of spare room")
        if let storage, capacity - writeIndex >= extra { return storage + writeIndex }
        let held = count
        let (needed, overflow) = held.addingReportingOverflow(extra)
        precondition(!overflow, "a stream buffer of more than Int.max bytes")
        if let storage, needed <= capacity, readIndex >= held {
            // Each byte moved here is paid for by a byte taken since the last move.
            (storage + 0).copyMemory(from: storage + readIndex, byteCount: held)
            readIndex = 0
            writeIndex = held
            return storage + writeIndex
        }
        let doubled = capacity > Int.max / 2 ? Int.max : capacity * 2
        let newCapacity = max(needed, doubled, Self.minimumCapacity)
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: newCapacity, alignment: 16)
        allocations += 1
        if let storage {
            bigger.copyMemory(from: storage + readIndex, byteCount: held)
            storage.deallocate()
        }
        storage = bigger
        capacity = newCapacity
        readIndex = 0
        writeIndex = held
        return bigger + writeIndex
    }

    /// Counts `written` bytes, written at the pointer `reserveSpare` returned, as held.
    mutating func commit(_ written: Int) {
        precondition(written >= 0 && written <= capacity - writeIndex, "committed more bytes than were reserved")
        writeIndex += written
    }

    /// Appends a copy of `bytes`.
    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        reserveSpare(bytes.count).copyMemory(from: source, byteCount: bytes.count)
        writeIndex += bytes.count
    }

    /// Appends the bytes of any collection (copied directly when it has contiguous storage).
    mutating func append<Bytes: Collection<UInt8>>(contentsOf bytes: Bytes) {
        let copied: Void? = bytes.withContiguousStorageIfAvailable { append(UnsafeRawBufferPointer($0)) }
        if copied != nil { return }
        let count = bytes.count
        guard count > 0 else { return }
        let spare = reserveSpare(count).bindMemory(to: UInt8.self, capacity: count)
        var written = 0
        for byte in bytes where written < count {
            spare[written] = byte
            written += 1
        }
        writeIndex += written
    }

    /// Removes the first `n` bytes (at most `count`) and returns them: one allocation (none
    /// for 0 bytes).
    mutating func take(_ n: Int) -> [UInt8] {
        let n = min(n, count)
        guard n > 0, let storage else { return [] }
        let start = storage + readIndex
        let bytes = [UInt8](unsafeUninitializedCapacity: n) { destination, initialized in
            UnsafeMutableRawPointer(destination.baseAddress!).copyMemory(from: start, byteCount: n)
            initialized = n
        }
        removeFirst(n)
        return bytes
    }

    /// Removes every byte and returns them.
    mutating func takeAll() -> [UInt8] {
        take(count)
    }

    /// Drops the first `n` bytes (at most `count`).
    mutating func removeFirst(_ n: Int) {
        readIndex += min(max(n, 0), count)
        if readIndex == writeIndex { removeAll() }
    }

    /// Drops every byte; the storage is kept for the next feeds unless it is larger than
    /// `retainedCapacity`.
    mutating func removeAll() {
        readIndex = 0
        writeIndex = 0
        if capacity > retainedCapacity, let storage {
            storage.deallocate()
            self.storage = nil
            capacity = 0
        }
    }

    /// The offset (from the first byte held) at which `separator` first occurs at or after
    /// `offset`; nil if it does not. `separator` is not empty. memchr for its first byte, then
    /// a comparison of the rest.
    func firstOccurrence(of separator: UnsafeRawBufferPointer, from offset: Int) -> Int? {
        let length = separator.count
        guard let storage, length > 0, offset >= 0, count - offset >= length else { return nil }
        let first = Int32(separator[0])
        let base = storage + readIndex
        var start = offset
        let lastStart = count - length
        while start <= lastStart {
            guard let hit = memchr(base + start, first, lastStart - start + 1) else { return nil }
            let position = base.distance(to: hit)
            if length == 1 || memcmp(hit + 1, separator.baseAddress! + 1, length - 1) == 0 { return position }
            start = position + 1
        }
        return nil
    }

    /// A copy of the bytes held (tests and diagnostics).
    func copyBytes() -> [UInt8] {
        guard let storage, count > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: storage + readIndex, count: count))
    }
}
