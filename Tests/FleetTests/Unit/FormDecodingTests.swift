import FleetHTTP
import Testing

@Suite("Form and query decoding")
struct FormDecodingTests {
    private static func pairs(_ text: String) throws -> [String] {
        try FormDecoding.pairs(text[...]).map { "\($0.name)=\($0.value)" }
    }

    @Test("pairs in order; empty parts skipped; a part without = has an empty value; = in a value stays")
    func pairs() throws {
        #expect(try Self.pairs("event=getConnectionCount&token=abc") == ["event=getConnectionCount", "token=abc"])
        #expect(try Self.pairs("&&a=1&&b&c=&=d&e=x=y&") == ["a=1", "b=", "c=", "=d", "e=x=y"])
        #expect(try Self.pairs("").isEmpty)
        #expect(try Self.pairs("é=ü&ä") == ["é=ü", "ä="])
    }

    @Test("+ is a space, %XX a byte, escapes make UTF-8")
    func escapes() throws {
        #expect(try FormDecoding.decode("a+b%20c") == "a b c")
        #expect(try FormDecoding.decode("%E2%82%AC%2b%26%3D") == "€+&=")
        #expect(try Self.pairs("sendMessageToId%5Bmsg%5D=hi+there&x=%7B%7D") == ["sendMessageToId[msg]=hi there", "x={}"])
        #expect(try FormDecoding.decode("plain") == "plain")
    }

    @Test("a broken escape or invalid UTF-8 is an error, not a guess", arguments: ["%", "%2", "%zz", "a%g0", "%FF", "%C3", "%C3%28"])
    func refused(_ text: String) {
        #expect(throws: FormDecoding.Malformed.self) { _ = try FormDecoding.decode(text[...]) }
        #expect(throws: FormDecoding.Malformed.self) { _ = try FormDecoding.pairs("ok=1&x=\(text)"[...]) }
    }
}
