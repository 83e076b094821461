import BrokerCore
import FleetCore
import Testing

extension FuzzTests {
    /// The bus codec reads what any publisher on the bus sends a node or a gateway: whole
    /// messages (the envelope and its body, read as the node and the gateway read them) and
    /// bodies as bare bytes, which need not even be UTF-8.
    @Suite("Fuzzing the bus codec (calls and replies)")
    struct BusCodecFuzzTests {
        static let mutator = Mutator(
            dictionary: FleetEvent.allCases.map(\.rawValue) + [
                "wscreq1\n", "wscrep1\n", "_sendToGroups", "_claim", "_adopt", #""op":"#, #""args":"#, #""ops":"#, #""results":"#,
                #""groupId":"#, #""token":"#, #""sessions":"#, #""claim":"#, #""session":"away""#, #""j":{}"#, #""i":"#,
            ]
        )

        // MARK: Generating

        static func text(using random: inout FuzzRandom) -> String {
            random.text(random.length() % 24)
        }

        static func optionalText(using random: inout FuzzRandom) -> String? {
            random.chance(30) ? nil : text(using: &random)
        }

        static func texts(using random: inout FuzzRandom) -> [String] {
            (0..<random.int(0...4)).map { _ in text(using: &random) }
        }

        static func operation(using random: inout FuzzRandom) -> NodeOperation {
            switch random.int(0...5) {
            case 0:
                return .sendToGroups(
                    texts(using: &random), message: text(using: &random), excluding: optionalText(using: &random),
                    messageID: optionalText(using: &random)
                )
            case 1:
                return .claimSession(
                    token: text(using: &random), connectionID: text(using: &random), id: optionalText(using: &random), groups: texts(using: &random)
                )
            case 2:
                let sessions = (0..<random.int(0...3)).map { _ in
                    var session = HandedSession(
                        token: text(using: &random), connectionID: text(using: &random), id: optionalText(using: &random),
                        groups: texts(using: &random), recorded: random.int(0...1_000_000), remaining: Int64.random(in: .min ... .max, using: &random)
                    )
                    session.kept = random.chance(50) ? (0..<random.int(0...4)).map { _ in random.int(0...300_000) } : nil
                    session.complete = random.chance(50) ? random.chance(50) : nil
                    session.address = optionalText(using: &random)
                    return session
                }
                return .adoptSessions(from: text(using: &random), to: text(using: &random), sessions: sessions)
            default:
                let arguments = EventArguments(
                    id: optionalText(using: &random), connectionID: optionalText(using: &random),
                    groups: random.chance(50) ? texts(using: &random) : nil, message: optionalText(using: &random),
                    messageID: optionalText(using: &random)
                )
                return .event(random.pick(FleetEvent.allCases), arguments)
            }
        }

        static func result(using random: inout FuzzRandom) -> OperationResult {
            switch random.int(0...5) {
            case 0: return .int(Int.random(in: .min ... .max, using: &random))
            case 1: return .bool(random.chance(50))
            case 2: return .strings(texts(using: &random))
            case 3:
                var members: [String: JSONValue] = [:]
                for _ in 0..<random.int(0...4) { members[text(using: &random)] = JSONGenerator.value(depth: 3, using: &random) }
                return .object(.object(members))
            case 4:
                let session: ClaimAnswer.Session? =
                    switch random.int(0...2) {
                    case 0: nil
                    case 1: .live
                    default:
                        .away(recorded: random.int(0...1_000), complete: random.chance(50), id: optionalText(using: &random), groups: texts(using: &random))
                    }
                return .claim(ClaimAnswer(session: session, seen: random.chance(50) ? texts(using: &random) : nil))
            default:
                return .failure(code: random.int(-5...5), message: text(using: &random))
            }
        }

        /// A header field: any text but a line break.
        static func headerField(using random: inout FuzzRandom) -> String {
            String(text(using: &random).unicodeScalars.filter { $0 != "\n" })
        }

        // MARK: Reading as the node and the gateway read

        /// What the node does with a message on its bus channel: nil when refused, after
        /// checking that the refusal is an error of the envelope or of the body.
        static func readCall(_ payload: String, seed: UInt64) -> [NodeCall]? {
            do {
                return try BrokerRequests(decoding: payload).requests.map { try NodeCall(wireText: $0.body) }
            } catch is DecodingError, is BrokerError {
                return nil
            } catch {
                Issue.record("seed \(seed): \(error) for \(show(payload))")
                return nil
            }
        }

        /// What a gateway does with a message on its reply channel.
        static func readReply(_ payload: String, seed: UInt64) -> [NodeCallReply]? {
            do {
                return try BrokerReplies.decode(payload).map { try NodeCallReply(wireText: $0.body) }
            } catch is DecodingError, is BrokerError {
                return nil
            } catch {
                Issue.record("seed \(seed): \(error) for \(show(payload))")
                return nil
            }
        }

        // MARK: Properties

        @Test("generated calls and replies read back as written", arguments: FuzzSeeds.all)
        func roundTrip(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<800 {
                await yieldPeriodically(index)
                // A batch of one to three, as a gateway sends them (one is a plain request).
                let calls = (0..<random.int(1...3)).map { _ in NodeCall(operations: (0..<random.int(0...4)).map { _ in Self.operation(using: &random) }) }
                let ids = calls.map { _ in Self.headerField(using: &random) }
                let request = try BrokerBatch.encodeRequests(
                    zip(ids, calls).map { BrokerBatch.Entry(id: $0, body: $1.wireText()) }, replyTo: Self.headerField(using: &random)
                )
                let readCalls = Self.readCall(request, seed: seed)
                #expect(readCalls == calls, "seed \(seed): \(show(request))")
                #expect(try BrokerRequests(decoding: request).requests.map(\.id) == ids)

                let replies = calls.map { _ in NodeCallReply(results: (0..<random.int(0...4)).map { _ in Self.result(using: &random) }) }
                let answer = try BrokerBatch.encodeReplies(
                    zip(ids, replies).map { BrokerBatch.Entry(id: $0, body: $1.wireText()) }, from: Self.headerField(using: &random)
                )
                let readReplies = Self.readReply(answer, seed: seed)
                #expect(readReplies == replies, "seed \(seed): \(show(answer))")
            }
        }

        @Test("random and mutated messages are read whole or refused with an error; what is read writes back the same", arguments: FuzzSeeds.all)
        func arbitraryMessages(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            let alphabet = Array("wscreq1wscrep1wscreqs1wscreps1\n{}[]\":,opsargsresults_claim_adoptgroupIdijbsnulltrue0123456789-.eE\\u ".utf8)
            for index in 0..<2000 {
                await yieldPeriodically(index)
                let isCall = index % 2 == 0
                let bytes: [UInt8]
                switch index % 8 {
                case 0, 1:
                    bytes = random.bytes(random.length())
                case 2:
                    bytes = Array((isCall ? "wscreq1\ni\nr\n" : "wscrep1\ni\nn\n").utf8) + random.bytes(random.length(), from: alphabet)
                case 3:
                    bytes = Array((isCall ? "wscreqs1\nr\n2\ni\n" : "wscreps1\nn\n2\ni\n").utf8) + random.bytes(random.length(), from: alphabet)
                default:
                    let valid: String
                    let count = random.int(1...3)
                    if isCall {
                        let calls = (0..<count).map { _ in NodeCall(operations: (0..<random.int(1...3)).map { _ in Self.operation(using: &random) }) }
                        valid = try BrokerBatch.encodeRequests(calls.map { BrokerBatch.Entry(id: "i", body: $0.wireText()) }, replyTo: "r")
                    } else {
                        let replies = (0..<count).map { _ in NodeCallReply(results: (0..<random.int(1...3)).map { _ in Self.result(using: &random) }) }
                        valid = try BrokerBatch.encodeReplies(replies.map { BrokerBatch.Entry(id: "i", body: $0.wireText()) }, from: "n")
                    }
                    bytes = Self.mutator.mutate(Array(valid.utf8), using: &random)
                }
                // As a message (a String: invalid UTF-8 repaired, as the broker's conversion does)...
                let payload = String(decoding: bytes, as: UTF8.self)
                if isCall, let calls = Self.readCall(payload, seed: seed) {
                    for call in calls { #expect(try NodeCall(wireText: call.wireText()) == call, "seed \(seed): \(show(payload))") }
                } else if !isCall, let replies = Self.readReply(payload, seed: seed) {
                    for reply in replies { #expect(try NodeCallReply(wireText: reply.wireText()) == reply, "seed \(seed): \(show(payload))") }
                }
                // ...and the body as bare bytes, invalid UTF-8 and all.
                let body = Array(bytes.drop { $0 != UInt8(ascii: "{") })
                do {
                    if isCall {
                        _ = try body.withUnsafeBytes { try NodeCall(wireBytes: $0) }
                    } else {
                        _ = try body.withUnsafeBytes { try NodeCallReply(wireBytes: $0) }
                    }
                } catch is DecodingError {
                } catch {
                    Issue.record("seed \(seed): \(error) for \(show(body))")
                }
            }
        }

        @Test("bodies nested 100,000 deep, in every place a value goes, are refused")
        func deepBodies() {
            var random = FuzzRandom(seed: 100_000)
            let places = [
                (#"{"ops":[{"op":"broadcast","args":{"x":"#, "}}]}", true), (#"{"x":"#, #","ops":[]}"#, true),
                (#"{"ops":[{"op":"_adopt","from":"a","to":"b","sessions":[{"y":"#, "}]}]}", true),
                (#"{"results":[{"j":{"a":"#, "}}]}", false), (#"{"results":[{"claim":{"z":"#, "}}]}", false),
            ]
            for (prefix, suffix, isCall) in places {
                let body = Array(prefix.utf8) + JSONGenerator.deep(100_000, using: &random) + Array(suffix.utf8)
                #expect(throws: DecodingError.self) {
                    if isCall {
                        _ = try body.withUnsafeBytes { try NodeCall(wireBytes: $0) }
                    } else {
                        _ = try body.withUnsafeBytes { try NodeCallReply(wireBytes: $0) }
                    }
                }
            }
        }

        @Test("a call of 100,000 groups and one of 10,000 operations are read in linear time")
        func largeBodies() throws {
            let groups = (0..<100_000).map { "group-\($0)" }
            let wide = NodeCall(operations: [.sendToGroups(groups, message: "m"), .claimSession(token: "t", connectionID: "c", id: nil, groups: groups)])
            let started = ContinuousClock.now
            #expect(try NodeCall(wireText: wide.wireText()) == wide)
            let long = NodeCall(operations: (0..<10_000).map { .event(.sendMessageTo_Id, EventArguments(connectionID: "c\($0)", message: "m")) })
            #expect(try NodeCall(wireText: long.wireText()) == long)
            #expect(ContinuousClock.now - started < .seconds(20))
        }
    }
}
