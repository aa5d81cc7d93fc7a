/// The messages of the sockets scenario: a 32-byte header naming the message, then a payload
/// whose every byte is derived from that name, so that any byte can be checked where it lands.
///
/// Header (little-endian): magic `"KSLM"` (UInt32), client, connection, sequence, payload length,
/// zero (UInt32 each), then a check word (UInt64) derived from all of them. The payload's word
/// `k` (bytes `8k..<8k+8`, the last one cut short) is `mix(key + k * golden)`, `key` being derived
/// from (client, connection, sequence): two messages never share a pattern, so a byte of another
/// connection's message, or of another message of the same connection, shows at its offset.
///
/// The server echoes each message as it came; the client checks the echo against what it sent.
enum SocketFrame {
    static let headerSize = 32
    static let magic: UInt32 = 0x4D4C_534B
    /// The largest payload (64 KiB); a header announcing more is not one of ours.
    static let maxPayload = 65_536

    /// What a header says.
    struct Header: Sendable, Equatable, CustomStringConvertible {
        var client: Int
        var connection: Int
        var sequence: Int
        var length: Int

        /// The seed of the payload's pattern: the message's name, mixed.
        var key: UInt64 {
            mix(mix(mix(UInt64(truncatingIfNeeded: client)) ^ UInt64(truncatingIfNeeded: connection))
                ^ UInt64(truncatingIfNeeded: sequence))
        }

        var check: UInt64 { mix(key ^ (UInt64(truncatingIfNeeded: length) << 1) ^ UInt64(SocketFrame.magic)) }

        /// Client, connection: whose message this is.
        var owner: Owner { Owner(client: client, connection: connection) }

        var description: String { "message \(sequence) (\(length) bytes) of client \(client) connection \(connection)" }

        init(client: Int, connection: Int, sequence: Int, length: Int) {
            self.client = client
            self.connection = connection
            self.sequence = sequence
            self.length = length
        }

        /// The header in `bytes` (exactly `headerSize` of them); nil when they are not one: a
        /// wrong magic or check word, or a length over `maxPayload` (the framing is lost).
        init?(decoding bytes: [UInt8]) {
            guard bytes.count == SocketFrame.headerSize else { return nil }
            let fields = bytes.withUnsafeBytes { raw in
                (0..<6).map { UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)) }
            }
            let check = bytes.withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self)) }
            guard fields[0] == SocketFrame.magic, fields[5] == 0, Int(fields[4]) <= SocketFrame.maxPayload else {
                return nil
            }
            self.init(client: Int(fields[1]), connection: Int(fields[2]), sequence: Int(fields[3]),
                      length: Int(fields[4]))
            guard check == self.check else { return nil }
        }

        /// The header's 32 bytes.
        var bytes: [UInt8] {
            var bytes = [UInt8](repeating: 0, count: SocketFrame.headerSize)
            bytes.withUnsafeMutableBytes { raw in
                let fields = [SocketFrame.magic, UInt32(truncatingIfNeeded: client),
                              UInt32(truncatingIfNeeded: connection), UInt32(truncatingIfNeeded: sequence),
                              UInt32(truncatingIfNeeded: length), 0]
                for (index, field) in fields.enumerated() {
                    raw.storeBytes(of: field.littleEndian, toByteOffset: 4 * index, as: UInt32.self)
                }
                raw.storeBytes(of: check.littleEndian, toByteOffset: 24, as: UInt64.self)
            }
            return bytes
        }
    }

    /// A client's connection: every message of one connection has the same owner.
    struct Owner: Sendable, Hashable, CustomStringConvertible {
        var client: Int
        var connection: Int
        var description: String { "client \(client) connection \(connection)" }
    }

    /// The payload of `header`'s message.
    static func payload(of header: Header) -> [UInt8] {
        let key = header.key
        var payload = [UInt8](repeating: 0, count: header.length)
        payload.withUnsafeMutableBytes { raw in
            let words = raw.count / 8
            for index in 0..<words {
                raw.storeBytes(of: word(key, index).littleEndian, toByteOffset: 8 * index, as: UInt64.self)
            }
            if raw.count % 8 != 0 {
                withUnsafeBytes(of: word(key, words).littleEndian) { last in
                    for offset in 0..<(raw.count % 8) { raw[8 * words + offset] = last[offset] }
                }
            }
        }
        return payload
    }

    /// The whole message: header and payload.
    static func message(_ header: Header) -> [UInt8] { header.bytes + payload(of: header) }

    /// The first offset at which `payload` is not `header`'s payload (a length that differs
    /// counts from where the shorter one ends); nil when it is.
    static func firstMismatch(in payload: [UInt8], of header: Header) -> Int? {
        let key = header.key
        let common = min(payload.count, header.length)
        let mismatch: Int? = payload.withUnsafeBytes { raw in
            let words = common / 8
            for index in 0..<words
            where UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * index, as: UInt64.self)) != word(key, index) {
                return (0..<8).first { raw[8 * index + $0] != expectedByte(key, at: 8 * index + $0) }.map { 8 * index + $0 }
            }
            return (8 * words..<common).first { raw[$0] != expectedByte(key, at: $0) }
        }
        if let mismatch { return mismatch }
        return payload.count == header.length ? nil : common
    }

    /// The byte `header`'s payload has at `offset`.
    static func expectedByte(of header: Header, at offset: Int) -> UInt8 { expectedByte(header.key, at: offset) }

    private static func expectedByte(_ key: UInt64, at offset: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: word(key, offset / 8) >> (8 * UInt64(offset % 8)))
    }

    private static func word(_ key: UInt64, _ index: Int) -> UInt64 {
        mix(key &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
    }
}

/// SplitMix64's finalizer: every input bit changes about half of the output bits.
private func mix(_ value: UInt64) -> UInt64 {
    var z = value
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
}
