import FleetCore
import FleetGateway
import Foundation
import Testing

extension FuzzTests {
    @Suite("Fuzzing the event API request parser")
    struct EventRequestFuzzTests {
        typealias Input = (query: String, body: [UInt8]?, contentType: String?)

        static let mutator = Mutator(dictionary: FleetEvent.allCases.map(\.rawValue) + ["event=", "[groupId]", "[msg]", "%5B", "%5D", "token"])

        /// Parses `input`; a refusal must be a 400, code 1, with a message.
        static func parse(_ input: Input, seed: UInt64) -> Result<EventRequest, APIError> {
            let result = Result { () throws(APIError) in try EventRequest.parse(query: input.query[...], body: input.body, contentType: input.contentType) }
            if case .failure(let error) = result {
                #expect(error.status == 400 && error.code == 1 && !error.message.isEmpty, "seed \(seed): \(error) for \(describe(input))")
            }
            return result
        }

        static func describe(_ input: Input) -> String {
            "query \(show(input.query)), body \(input.body.map { show($0) } ?? "nil"), content type \(input.contentType ?? "nil")"
        }

        /// What every accepted request satisfies: distinct events, each with exactly the
        /// arguments it takes, none of them empty but the message, groups distinct and trimmed.
        static func checkAccepted(_ request: EventRequest, seed: UInt64, input: Input) {
            let context = Comment(rawValue: "seed \(seed): \(describe(input)) gave \(request.calls)")
            #expect(!request.calls.isEmpty, context)
            #expect(Set(request.calls.map(\.event)).count == request.calls.count, context)
            for call in request.calls {
                let arguments = call.arguments
                let parameters = Set(call.event.parameters)
                #expect((arguments.id != nil) == parameters.contains(.id), context)
                #expect((arguments.connectionID != nil) == parameters.contains(.connectionID), context)
                #expect((arguments.groups != nil) == parameters.contains(.groupID), context)
                #expect((arguments.message != nil) == parameters.contains(.message), context)
                #expect((arguments.appID != nil) == parameters.contains(.appID), context)
                #expect((arguments.channel != nil) == parameters.contains(.channel), context)
                #expect((arguments.name != nil) == parameters.contains(.name), context)
                #expect(arguments.id?.isEmpty != true && arguments.connectionID?.isEmpty != true && arguments.messageID == nil, context)
                #expect(arguments.appID?.isEmpty != true && arguments.channel?.isEmpty != true && arguments.name?.isEmpty != true, context)
                if let groups = arguments.groups {
                    #expect(!groups.isEmpty && !groups.contains("") && Set(groups).count == groups.count, context)
                    if call.event.acceptsGroupList {
                        #expect(groups.allSatisfy { !$0.contains(",") && $0.trimmingCharacters(in: .whitespaces) == $0 }, context)
                    }
                }
            }
        }

        @Test("a generated request parses to the events and arguments it was made of", arguments: FuzzSeeds.all)
        func roundTrip(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<600 {
                await yieldPeriodically(index)
                let spec = RequestSpec.random(using: &random)
                let input = spec.render(using: &random)
                let calls = try Self.parse(input, seed: seed).get().calls
                #expect(calls == spec.expectedCalls, "seed \(seed): \(Self.describe(input))")
            }
        }

        @Test("random and mutated requests are accepted whole or refused with a 400", arguments: FuzzSeeds.all)
        func arbitraryInput(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            let alphabet = Array("event=,&[]%5BD+ sendToGroup[groupId][msg]_id{}\":".utf8)
            let contentTypes = [nil, "application/json", "application/x-www-form-urlencoded", "text/plain"]
            for index in 0..<1500 {
                await yieldPeriodically(index)
                var input: Input
                switch index % 5 {
                case 0:
                    input = (String(decoding: random.bytes(random.length()), as: UTF8.self), nil, nil)
                case 1:
                    input = (String(decoding: random.bytes(random.length(), from: alphabet), as: UTF8.self), nil, nil)
                case 2:
                    let names = FleetEvent.allCases.shuffled(using: &random).prefix(random.int(1...3)).map(\.rawValue)
                    input = ("event=" + names.joined(separator: ","), random.bytes(random.length()), random.pick(contentTypes))
                default:
                    input = RequestSpec.random(using: &random).render(using: &random)
                    if index % 5 == 3 || input.body == nil {
                        input.query = String(decoding: Self.mutator.mutate(Array(input.query.utf8), using: &random), as: UTF8.self)
                    } else {
                        input.body = Self.mutator.mutate(input.body!, using: &random)
                    }
                }
                if case .success(let request) = Self.parse(input, seed: seed) {
                    Self.checkAccepted(request, seed: seed, input: input)
                }
            }
        }

        @Test("a request with one thing wrong is refused with a message naming it", arguments: FuzzSeeds.all)
        func namedErrors(seed: UInt64) async throws {
            var random = FuzzRandom(seed: seed)
            for index in 0..<400 {
                await yieldPeriodically(index)
                var spec = RequestSpec.random(using: &random)
                let expected = Self.breakOneThing(&spec, using: &random)
                var input = spec.render(using: &random)
                switch expected {
                case "malformed JSON body":
                    // Cut inside the object, so what is left starts a JSON text and does not end it.
                    let body = input.body!
                    let brace = body.firstIndex(of: UInt8(ascii: "{"))!
                    input.body = Array(body.prefix(random.int(brace + 1...body.count - 1)))
                case "malformed query string":
                    input.query += random.pick(["&a=%", "&%4", "&x=%G1", "&%zz=1"])
                default:
                    break
                }
                guard case .failure(let error) = Self.parse(input, seed: seed) else {
                    Issue.record("seed \(seed): accepted, expected \"\(expected)\": \(Self.describe(input))")
                    continue
                }
                #expect(error.message.contains(expected), "seed \(seed): \"\(error.message)\" does not say \"\(expected)\"; \(Self.describe(input))")
            }
        }

        /// Breaks one thing in a valid request; returns what the refusal must say.
        static func breakOneThing(_ spec: inout RequestSpec, using random: inout FuzzRandom) -> String {
            let index = random.int(0...spec.events.count - 1)
            let name = spec.events[index].name
            let parameters = spec.events[index].parameters
            switch random.int(0...7) {
            case 0 where !parameters.isEmpty:
                let removed = spec.events[index].parameters.remove(at: random.int(0...parameters.count - 1))
                return "\(name): missing parameter \(removed.name.rawValue)"
            case 1 where parameters.contains { $0.name != .message }:
                let target = parameters.firstIndex { $0.name != .message }!
                spec.events[index].parameters[target].value = .string("")
                return "\(name): parameter \(parameters[target].name.rawValue) is empty"
            case 2:
                let unknown = "no" + String((0..<random.int(1...8)).map { _ in random.pick(Array("abcdefXYZ_")) })
                spec.events.insert(RequestSpec.Event(name: unknown, parameters: [], expected: EventArguments()), at: index)
                return "unknown event \"\(unknown)\""
            case 3:
                spec.events.append(spec.events[index])
                return "event \"\(name)\" is given twice"
            case 4 where spec.bodyFormat == .json && !parameters.isEmpty:
                let target = random.int(0...parameters.count - 1)
                let value = random.pick([JSONValue.null, .bool(true), .array([.number("1")]), .object([:])])
                spec.events[index].parameters[target].value = value
                spec.events[index].parameters[target].place = .body
                return "\(name): parameter \(parameters[target].name.rawValue) must be a string or a number, not \(value.kind)"
            case 5 where spec.bodyFormat == .json:
                return "malformed JSON body"
            case 6:
                spec.events = []
                return "missing event"
            default:
                return "malformed query string"
            }
        }

        @Test("a JSON body nested 100,000 deep is refused as malformed")
        func deepJSONBody() throws {
            var random = FuzzRandom(seed: 100_000)
            for _ in 0..<4 {
                let body = Array(#"{"sendToGroup":"#.utf8) + JSONGenerator.deep(100_000, using: &random) + Array("}".utf8)
                let error = #expect(throws: APIError.self) {
                    try EventRequest.parse(query: "event=sendToGroup", body: body, contentType: "application/json")
                }
                #expect(error?.message.hasPrefix("malformed JSON body") == true, "\(error?.message ?? "")")
            }
        }

        /// Regression: the group list was de-duplicated by a linear search per group, so a 1 MiB
        /// body of group names took minutes of CPU. Now it is linear, and at most
        /// `maxGroupsPerEvent` distinct groups are accepted.
        @Test("a groupId list of 200,000 names is read in linear time; more than 1000 distinct ones are refused")
        func longGroupList() throws {
            let limit = EventRequest.maxGroupsPerEvent
            let names = (0..<200_000).map { String($0 % limit, radix: 36) }
            let body = #"{"joinGroupById":{"id":"u","groupId":"\#(names.joined(separator: ","))"}}"#
            let request = try EventRequest.parse(query: "event=joinGroupById", body: Array(body.utf8))
            #expect(request.calls.first?.arguments.groups == (0..<limit).map { String($0, radix: 36) })

            let distinct = (0..<200_000).map { String($0, radix: 36) }
            let tooMany = #"{"joinGroupById":{"id":"u","groupId":"\#(distinct.joined(separator: ","))"}}"#
            let error = #expect(throws: APIError.self) { try EventRequest.parse(query: "event=joinGroupById", body: Array(tooMany.utf8)) }
            #expect(error?.status == 400 && error?.message.contains("at most \(limit)") == true, "\(error?.message ?? "")")
        }
    }
}
