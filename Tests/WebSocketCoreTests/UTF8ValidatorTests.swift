import Testing
@testable import WebSocketCore

@Suite("Incremental UTF-8 validation")
struct UTF8ValidatorTests {
    static func check(_ pieces: [[UInt8]]) -> Bool {
        var validator = UTF8Validator()
        for piece in pieces {
            let ok = piece.withUnsafeBytes { validator.feed($0) }
            if !ok { return false }
        }
        return validator.isComplete
    }

    @Test(arguments: [
        "", "plain ASCII that is longer than eight bytes", "κόσμε", "𝄞 music", "\u{FFFF}\u{10FFFF}", "\u{D7FF}\u{E000}",
    ])
    func valid(_ text: String) {
        #expect(Self.check([Array(text.utf8)]))
        // Split at every position, the validator carries characters over.
        let bytes = Array(text.utf8)
        for cut in 0...bytes.count {
            #expect(Self.check([Array(bytes[..<cut]), Array(bytes[cut...])]))
        }
    }

    @Test(arguments: [
        [0x80], [0xC0, 0xAF], [0xC1, 0xBF], [0xE0, 0x80, 0xAF], [0xED, 0xA0, 0x80], [0xED, 0xBF, 0xBF],
        [0xF0, 0x80, 0x80, 0xAF], [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0xFE],
        [0xCE, 0xBA, 0xE1], [0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0x41, 0xC3],
    ] as [[UInt8]])
    func invalid(_ bytes: [UInt8]) {
        #expect(!Self.check([bytes]))
    }

    @Test func failsAtTheFirstBadByteWhateverFollows() {
        var validator = UTF8Validator()
        #expect(([0xCE, 0xBA] as [UInt8]).withUnsafeBytes { validator.feed($0) })
        let accepted = validator.feed([0xF4, 0x90] as [UInt8])
        #expect(!accepted)
    }
}
