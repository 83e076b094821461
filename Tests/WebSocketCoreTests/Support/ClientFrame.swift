import NIOCore
import WSCTesting

/// Raw client frames for tests: any flags, masked with a real key (or not masked at all).
enum ClientFrame {
    static let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    /// One frame's bytes.
    static func bytes(
        opcode: UInt8,
        _ payload: [UInt8] = [],
        fin: Bool = true,
        rsv: UInt8 = 0,
        masked: Bool = true
    ) -> [UInt8] {
        var bytes: [UInt8] = [(fin ? 0x80 : 0) | (rsv << 4) | opcode]
        let maskBit: UInt8 = masked ? 0x80 : 0
        switch payload.count {
        case ..<126:
            bytes.append(maskBit | UInt8(payload.count))
        case ..<65_536:
            bytes += [maskBit | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xFF)]
        default:
            bytes.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((payload.count >> shift) & 0xFF)) }
        }
        guard masked else { return bytes + payload }
        bytes += key
        for (index, byte) in payload.enumerated() { bytes.append(byte ^ key[index % 4]) }
        return bytes
    }

    static func text(_ text: String, fin: Bool = true) -> [UInt8] { bytes(opcode: 0x1, Array(text.utf8), fin: fin) }
    static func binary(_ payload: [UInt8], fin: Bool = true) -> [UInt8] { bytes(opcode: 0x2, payload, fin: fin) }
    static func continuation(_ payload: [UInt8], fin: Bool = true) -> [UInt8] { bytes(opcode: 0x0, payload, fin: fin) }
    static func ping(_ payload: [UInt8] = []) -> [UInt8] { bytes(opcode: 0x9, payload) }
    /// Only the header of a binary frame declaring `length` payload bytes (64-bit length).
    static func header(declaring length: UInt64) -> [UInt8] {
        [0x82, 0x80 | 127] + (0..<8).map { UInt8(truncatingIfNeeded: length >> (56 - 8 * UInt64($0))) } + [1, 2, 3, 4]
    }
    static func pong(_ payload: [UInt8] = []) -> [UInt8] { bytes(opcode: 0xA, payload) }

    /// A close frame with a code and reason.
    static func close(code: UInt16, reason: [UInt8] = []) -> [UInt8] {
        bytes(opcode: 0x8, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }
}
