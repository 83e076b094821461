import FleetCore
import Testing

@testable import PusherProtocol

extension FuzzTests {
    @Suite("Fuzzing the Pusher inbound parser")
    struct PusherInboundFuzzTests {
        static let inputs = InputMix(
            alphabet: Array(#"{}[]",:"eventchanldaus:-_ 0123456789trufnl\"#.utf8),
            mutator: Mutator(dictionary: [#""event""#, #""channel""#, #""data""#, "pusher:subscribe", "private-", "presence-", #"\""#]),
            samples: [
                #"{"event":"pusher:subscribe","data":{"channel":"private-x","auth":"key:sig"}}"#,
                #"{"event":"pusher:subscribe","data":{"channel":"presence-r","auth":"k:s","channel_data":"{\"user_id\":\"1\"}"}}"#,
                #"{"event":"client-typing","channel":"private-x","data":{"text":"hi"}}"#,
                #"{"event":"pusher:ping","data":{}}"#, #"{"event":"pusher:unsubscribe","data":"{\"channel\":\"c\"}"}"#,
            ].map { Array($0.utf8) }
        )

        /// A random frame: an object with an event and, sometimes, a channel, data and other fields.
        static func frame(using random: inout FuzzRandom) -> (text: String, expected: PusherInbound) {
            var fields: [String: JSONValue] = [:]
            let event = random.chance(50) ? random.pick(["pusher:subscribe", "pusher:ping", "client-x"]) : random.text(random.int(1...12))
            fields["event"] = .string(event.isEmpty ? "e" : event)
            var expected = PusherInbound(event: event.isEmpty ? "e" : event)
            switch random.int(0...2) {
            case 0: break
            case 1: fields["channel"] = .null
            default:
                let channel = random.text(random.int(0...12))
                fields["channel"] = .string(channel)
                expected.channel = channel
            }
            if random.chance(70) {
                let data = JSONGenerator.value(depth: 3, using: &random)
                fields["data"] = data
                expected.data = data
            }
            if random.chance(30) { fields["x-" + random.text(3)] = JSONGenerator.value(depth: 1, using: &random) }
            return (JSONValue.object(fields).text, expected)
        }

        /// A frame whose fields may be of any kind or missing: an object, most of the time.
        static func hostileFrame(using random: inout FuzzRandom) -> String {
            var fields: [String: JSONValue] = [:]
            for name in ["event", "channel", "data"] where random.chance(80) {
                fields[name] = random.chance(50) ? .string(random.chance(20) ? "" : "e") : JSONGenerator.value(depth: 2, using: &random)
            }
            return random.chance(90) ? JSONValue.object(fields).text : JSONGenerator.value(depth: 2, using: &random).text
        }

        /// The reason `text` must be refused with, or nil when it must parse; from the shape
        /// docs/pusher.md documents, by way of `JSONValue`.
        static func expectedRefusal(_ text: String) -> String? {
            guard let value = try? JSONValue(parsing: text.utf8) else { return "the message is not JSON" }
            guard case .object(let fields) = value else { return "the message is not a JSON object" }
            guard case .string(let event)? = fields["event"], !event.isEmpty else { return #"the message has no "event" string"# }
            switch fields["channel"] {
            case nil, .null?, .string?: return nil
            case let other?: return #""channel" must be a string, not "# + other.kind
            }
        }

        @Test("a generated frame parses to its event, channel and data", arguments: FuzzSeeds.all)
        func roundTrip(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let (text, expected) = Self.frame(using: &random)
                #expect(try PusherInbound(parsing: text) == expected, "seed \(seed): \(show(text))")
            }
        }

        @Test("random and mutated frames parse or are refused with the documented reason", arguments: FuzzSeeds.all)
        func arbitraryInput(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            for index in 0..<1500 {
                await yieldPeriodically(index)
                let bytes = Self.inputs.input(index, generated: { Array(Self.hostileFrame(using: &$0).utf8) }, using: &random)
                let text = String(decoding: bytes, as: UTF8.self)  // a text frame is UTF-8
                do {
                    let inbound = try PusherInbound(parsing: text)
                    #expect(Self.expectedRefusal(text) == nil, "seed \(seed): accepted \(show(text))")
                    #expect(!inbound.event.isEmpty, "seed \(seed): \(show(text))")
                    _ = inbound.dataObject()
                } catch {
                    #expect(error.description == Self.expectedRefusal(text), "seed \(seed): \(show(text))")
                }
            }
        }

        @Test("data given as a string holding an object is read as that object", arguments: FuzzSeeds.all)
        func encodedData(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<500 {
                await yieldPeriodically(index)
                guard case .object(let fields) = JSONGenerator.value(depth: 3, using: &random) else { continue }
                let encoded = JSONValue.string(JSONValue.object(fields).text)
                let inbound = try PusherInbound(parsing: JSONValue.object(["event": .string("e"), "data": encoded]).text)
                #expect(inbound.dataObject() == fields, "seed \(seed): \(show(encoded.text))")
                for (name, value) in fields {
                    switch value {
                    case .string(let text): #expect(try PusherInbound.string(name, in: fields) == text)
                    case .null: #expect(try PusherInbound.string(name, in: fields) == nil)
                    default:
                        let error = #expect(throws: PusherInbound.Malformed.self) { try PusherInbound.string(name, in: fields) }
                        #expect(error?.description == #""\#(name)" must be a string, not \#(value.kind)"#)
                    }
                }
            }
        }

        @Test("a frame nested 100,000 deep, as data or inside a data string, is refused without a crash")
        func deepNesting() {
            var random = FuzzRandom(seed: 100_000)
            for _ in 0..<4 {
                let deep = String(decoding: JSONGenerator.deep(100_000, using: &random), as: UTF8.self)
                let error = #expect(throws: PusherInbound.Malformed.self) { try PusherInbound(parsing: #"{"event":"e","data":"# + deep + "}") }
                #expect(error?.description == "the message is not JSON")
                let inbound = PusherInbound(event: "e", data: .string(deep))
                #expect(inbound.dataObject() == nil)
            }
        }
    }
}
