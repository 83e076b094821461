import FleetCore
import Foundation
import Testing

extension FuzzTests {
    @Suite("Fuzzing JSONValue(parsing:)")
    struct JSONValueFuzzTests {
        static let inputs = InputMix(
            alphabet: Array(#"{}[]",:.-+eE0123456789 \trnulfase\u"#.utf8) + [0, 0x0A, 0xC3, 0xA9],
            mutator: Mutator(),
            samples: [
                #"{"a":[1,2.5,-3e2,true,false,null],"b":{"c":"d\u00e9\n"},"":""}"#, "[]", "{}", "0", #""""#,
                #"[18446744073709551616,-9223372036854775809,123456789012345678901234567890]"#,
                #"{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"key:sig"}}"#,
            ].map { Array($0.utf8) }
        )

        /// Parses `input`: a value, or nil after checking that the error names a problem and where.
        static func parse(_ input: [UInt8], seed: UInt64) -> JSONValue? {
            do {
                return try JSONValue(parsing: input)
            } catch DecodingError.dataCorrupted(let context) {
                #expect(context.debugDescription.contains(" at offset "), "seed \(seed): \(context.debugDescription) for \(show(input))")
                return nil
            } catch {
                Issue.record("seed \(seed): \(error) for \(show(input))")
                return nil
            }
        }

        @Test("generated values survive writing and parsing unchanged", arguments: FuzzSeeds.all)
        func roundTrip(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let value = JSONGenerator.value(depth: 4, using: &random)
                let text = value.text
                let parsed = try JSONValue(parsing: text.utf8)
                #expect(parsed == value, "seed \(seed): \(show(text)) came back as \(show(parsed.text))")
            }
        }

        @Test("random and mutated input parses, or is refused naming the problem and its offset; what parses reads back the same", arguments: FuzzSeeds.all)
        func arbitraryInput(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let input = Self.inputs.input(index, generated: { Array(JSONGenerator.value(depth: 3, using: &$0).text.utf8) }, using: &random)
                guard let value = Self.parse(input, seed: seed) else { continue }
                // Whatever was accepted is written out as JSON that parses to a value of the same meaning.
                let again = Self.parse(Array(value.text.utf8), seed: seed)
                #expect(again.map { JSONValue.sameMeaning($0, value) } == true, "seed \(seed): \(show(input)) came back as \(again?.text ?? "an error")")
            }
        }

        /// JSONValue read JSON through JSONDecoder before; `init(from:)` still does. The one-pass
        /// reader must agree with it on every input: same value, or both refuse. Two differences
        /// are meant: JSONDecoder stops at a NUL byte after a number (`6\0` is 6), the reader
        /// refuses it; and JSONDecoder cuts the fraction off a number beyond 2^53
        /// (`65000000169060706.1` is 65000000169060706), the reader keeps it as a `Double`.
        /// A third (seed 4257921319535373003): JSONDecoder checks UTF-8 only in the strings it
        /// keeps, so invalid bytes in the value of a repeated key pass; the reader refuses any.
        /// A fourth (seed 940394116834752561), of the same kind: a lone surrogate escape
        /// (`\udc00`) in the value of a repeated key passes JSONDecoder; the reader refuses it.
        /// A fifth (seed 8247409520050240753), of the same kind again: an unescaped control
        /// character (U+0011) in the value of a repeated key passes JSONDecoder; the reader
        /// refuses it, as RFC 8259 wants.
        @Test("JSONValue(parsing:) agrees with decoding through JSONDecoder", arguments: FuzzSeeds.all)
        func agreesWithJSONDecoder(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let input = Self.inputs.input(index, generated: { Array(JSONGenerator.value(depth: 3, using: &$0).text.utf8) }, using: &random)
                var refusal = ""
                let parsed: JSONValue?
                do { parsed = try JSONValue(parsing: input) } catch { (parsed, refusal) = (nil, "\(error)") }
                let decoded = try? JSONDecoder().decode(JSONValue.self, from: Data(input))
                if parsed == nil, decoded != nil, input.contains(0) { continue }
                if parsed == nil, decoded != nil, String(validating: input, as: UTF8.self) == nil { continue }
                if parsed == nil, decoded != nil, refusal.contains("surrogate escape") { continue }
                if parsed == nil, decoded != nil, refusal.contains("control character in a string") { continue }
                #expect(JSONValue.agree(parsed, decoded), "seed \(seed): \(show(input)) read as \(parsed?.text ?? "an error"), decoded as \(decoded?.text ?? "an error")")
            }
        }

        /// Found by the property above (seed 4257921319535373003): invalid UTF-8 is refused
        /// wherever it is, also in the value of a key that is repeated.
        @Test("invalid UTF-8 is refused even in a repeated key's value")
        func invalidUTF8InARepeatedKey() {
            let input = Array(#"{"a":""#.utf8) + [0xC3, 0x2C] + Array(#"","a":"x"}"#.utf8)
            #expect(throws: DecodingError.self) { try JSONValue(parsing: input) }
        }

        /// Found by the property above (seed 940394116834752561): a lone surrogate escape is
        /// refused wherever it is, also in the value of a key that is repeated.
        @Test("a lone surrogate escape is refused even in a repeated key's value")
        func loneSurrogateInARepeatedKey() {
            for text in [#"{"a":"\udc00","a":"x"}"#, #"{"a":"x","a":"\ud800"}"#, #"{"a":"\ud800\u0041"}"#] {
                #expect(throws: DecodingError.self, "\(text)") { try JSONValue(parsing: text.utf8) }
            }
        }

        /// Found by the property above (seed 8247409520050240753): an unescaped control
        /// character is refused wherever it is, also in the value of a key that is repeated.
        @Test("an unescaped control character is refused even in a repeated key's value")
        func controlCharacterInARepeatedKey() {
            for text in ["{\"a\":\"x\u{11}y\",\"a\":\"x\"}", "{\"a\":\"x\",\"a\":\"\u{01}\"}", "[\"\u{1F}\"]"] {
                #expect(throws: DecodingError.self, "\(text)") { try JSONValue(parsing: text.utf8) }
            }
        }

        /// Found by the property above (seed 3181403731003599106): JSONDecoder allows one
        /// trailing comma, and the reader first refused it.
        @Test("one trailing comma is allowed, as JSONDecoder allowed it; two are not")
        func trailingComma() throws {
            let input = "[18446744073709551616,-9223372036854775809,12345678901234,]"
            #expect(try JSONValue(parsing: input.utf8) == .array([.number("18446744073709551616"), .number("-9223372036854775809"), .number("12345678901234")]))
            #expect(try JSONValue(parsing: #"{"a":[1 ,],}"#.utf8) == .object(["a": .array([.number("1")])]))
            for refused in ["[1,,]", "[,]", "{,}", "[1],"] {
                #expect(throws: DecodingError.self, "\(refused)") { try JSONValue(parsing: refused.utf8) }
            }
        }

        @Test("nesting 100,000 deep, closed or not, is refused without overflowing the stack", arguments: [100_000, 10_000, 1_000])
        func deepNesting(depth: Int) {
            var random = FuzzRandom(seed: UInt64(depth))
            for _ in 0..<4 {
                let input = JSONGenerator.deep(depth, using: &random)
                #expect(Self.parse(input, seed: UInt64(depth)) == nil, "depth \(depth): \(show(input.prefix(40)))")
            }
        }

        @Test("nesting 100 deep parses to a value 100 deep")
        func moderateNesting() throws {
            let input = String(repeating: #"{"a":["#, count: 50) + "1" + String(repeating: "]}", count: 50)
            #expect(JSONValue.depth(of: try JSONValue(parsing: input.utf8)) == 100)
        }

        @Test("nesting is limited to 512 levels, as JSONDecoder limited it, with a message saying so")
        func depthLimit() throws {
            let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
            #expect(JSONValue.depth(of: try JSONValue(parsing: deepest.utf8)) == 512)
            let error = #expect(throws: DecodingError.self) { try JSONValue(parsing: ("[" + deepest + "]").utf8) }
            guard case .dataCorrupted(let context)? = error else { return }
            #expect(context.debugDescription == "nesting deeper than 512 levels at offset 512 (found byte 0x5b)")
        }

        /// Regression: JSONDecoder can only be asked for one kind of value after another, and
        /// every wrong guess built an error holding the coding path: this 64 KiB text (the
        /// default WebSocket message limit) took 98 seconds of CPU, 1 KiB of it 1.5 seconds.
        @Test("64 KiB of arrays nested 500 deep is read in one pass")
        func repeatedDeepNesting() throws {
            let nest = String(repeating: "[", count: 500) + String(repeating: "]", count: 500)
            let value = try JSONValue(parsing: ("[" + Array(repeating: nest, count: 64).joined(separator: ",") + "]").utf8)
            guard case .array(let items) = value else {
                Issue.record("not an array: \(value.kind)")
                return
            }
            #expect(items.count == 64 && items.allSatisfy { JSONValue.depth(of: $0) == 500 })
        }

        /// Integers of up to 38 digits keep their digits; other numbers keep their value.
        @Test("boundary numbers keep their meaning", arguments: Mutator.common.filter { ($0.first == "-" || $0.first?.isNumber == true) && Double($0) != nil })
        func boundaryNumbers(text: String) throws {
            guard let value = Self.parse(Array("[\(text)]".utf8), seed: 0) else { return }
            guard case .array(let items) = value, case .number(let number)? = items.first else {
                Issue.record("\(text) parsed as \(value.text)")
                return
            }
            let digits = text.drop { $0 == "-" }
            if digits.count <= 38, digits.allSatisfy(\.isNumber), text != "-0" {
                #expect(number == text)
            } else {
                #expect(Double(number) == Double(text), "\(text) became \(number)")
            }
        }
    }
}
