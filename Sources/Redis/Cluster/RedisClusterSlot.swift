/// Where Redis Cluster keeps a key: one of 16,384 hash slots, `CRC16(key) mod 16384`
/// (CRC16-XMODEM), as the cluster specification defines it.
///
/// Only the key's **hash tag** counts when it has one: the bytes between its first `{` and
/// the first `}` after it, when there is at least one byte between them. So `user:{42}:a` and
/// `user:{42}:b` share a slot, and a multi-key command or script on them can run.
public enum RedisClusterSlot {
    /// The number of hash slots.
    public static let count = 16_384

    /// The slot of `key`.
    public static func of(_ key: String) -> Int {
        of(bytes: Array(key.utf8))
    }

    /// The slot of a key given as bytes.
    public static func of(bytes key: some Collection<UInt8>) -> Int {
        Int(crc16(hashed(key)) & 0x3FFF)
    }

    /// The part of `key` that is hashed: its hash tag, or all of it.
    static func hashed<Bytes: Collection<UInt8>>(_ key: Bytes) -> Bytes.SubSequence {
        guard let open = key.firstIndex(of: UInt8(ascii: "{")) else { return key[...] }
        let afterOpen = key.index(after: open)
        guard let close = key[afterOpen...].firstIndex(of: UInt8(ascii: "}")), close != afterOpen else { return key[...] }
        return key[afterOpen..<close]
    }

    /// CRC16-XMODEM (polynomial 0x1021, initial value 0, no reflection).
    static func crc16(_ bytes: some Sequence<UInt8>) -> UInt16 {
        var crc: UInt16 = 0
        for byte in bytes {
            crc = (crc << 8) ^ table[Int((crc >> 8) ^ UInt16(byte)) & 0xFF]
        }
        return crc
    }

    private static let table: [UInt16] = (0..<256).map { index in
        var crc = UInt16(index) << 8
        for _ in 0..<8 {
            crc = crc & 0x8000 != 0 ? (crc << 1) ^ 0x1021 : crc << 1
        }
        return crc
    }
}
