import Crypto
import FleetCore
import Foundation
import NativeProtocol
import Testing

extension FuzzTests {
    /// `ClientAuthenticator` is driven through its public `admit`, as the upgrade handler calls it.
    @Suite("Fuzzing JWT admission")
    struct JWTFuzzTests {
        static let secret = "fuzz-secret"
        static let authenticator = ClientAuthenticator(tokens: ["static-token"], jwtSecret: secret)
        static let now = 1_800_000_000.0

        static func base64URL(_ bytes: some Sequence<UInt8>) -> String {
            Data(bytes).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        static func signature(of signingInput: Substring, secret: String = secret) -> Data {
            Data(HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8))))
        }

        /// A token signed with `secret`, over any header and payload bytes.
        static func sign(payload: [UInt8], header: [UInt8] = Array(#"{"alg":"HS256","typ":"JWT"}"#.utf8), secret: String = secret) -> String {
            let signingInput = base64URL(header) + "." + base64URL(payload)
            return signingInput + "." + base64URL(signature(of: signingInput[...], secret: secret))
        }

        static func admit(_ token: String, using random: inout FuzzRandom) -> Result<ClientAuthenticator.Admission, ClientAuthenticator.Refusal> {
            let result =
                random.chance(50)
                ? authenticator.admit(queryToken: token, authorization: nil, now: now)
                : authenticator.admit(queryToken: nil, authorization: random.pick(["Bearer ", "bearer ", "BEARER  "]) + token, now: now)
            if case .failure(let refusal) = result { #expect(!refusal.description.isEmpty) }
            return result
        }

        /// The reason a token was refused, or nil when it was admitted.
        static func refusal(_ result: Result<ClientAuthenticator.Admission, ClientAuthenticator.Refusal>) -> String? {
            if case .failure(let refusal) = result { return refusal.description }
            return nil
        }

        /// Whether the token is one that may be admitted: the static token, or three parts whose
        /// header says HS256 and whose signature is the HMAC of the first two, checked here
        /// independently of the authenticator.
        static func isGenuine(_ token: String) -> Bool {
            let token = token.trimmingCharacters(in: .whitespaces)
            if token == "static-token" { return true }
            let parts = token.split(separator: ".", omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> Data? {
                var base64 = part.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
                base64 += String(repeating: "=", count: (4 - base64.utf8.count % 4) % 4)
                return Data(base64Encoded: base64)
            }
            guard parts.count == 3, let header = decode(parts[0]), let signature = decode(parts[2]),
                case .object(let fields)? = try? JSONValue(parsing: header), fields["alg"] == .string("HS256")
            else { return false }
            return signature == Self.signature(of: token[parts[0].startIndex..<parts[1].endIndex])
        }

        @Test("random and mutated tokens are refused unless genuinely signed; genuine ones are admitted", arguments: FuzzSeeds.all)
        func arbitraryTokens(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            let mutator = Mutator(dictionary: [".", "-", "_", "=", "eyJ", "static-token"])
            let valid = Self.sign(payload: Array(#"{"sub":"alice","exp":1900000000}"#.utf8))
            let alphabet = Array("ABCXYZabcxyz0189-_.=+/ ".utf8)
            for index in 0..<1200 {
                await yieldPeriodically(index)
                let bytes: [UInt8] =
                    switch index % 5 {
                    case 0: random.bytes(random.length())
                    case 1: random.bytes(random.length(), from: alphabet)
                    case 2: mutator.mutate(Array(valid.utf8), using: &random)
                    case 3:
                        // Three base64url parts of random bytes, the first sometimes a real header.
                        Array(
                            [random.chance(50) ? Self.base64URL(Array(#"{"alg":"HS256"}"#.utf8)) : Self.base64URL(random.bytes(random.length())),
                             Self.base64URL(random.bytes(random.length())), Self.base64URL(random.bytes(random.int(0...40)))]
                                .joined(separator: ".").utf8)
                    default:
                        // Any claims without exp or nbf, signed with the secret or with another one.
                        Array(Self.sign(payload: Array(Self.timelessClaims(using: &random).utf8), secret: random.pick([Self.secret, "fuzz-secreT", ""])).utf8)
                    }
                let token = String(decoding: bytes, as: UTF8.self)
                let admitted = Self.refusal(Self.admit(token, using: &random)) == nil
                if index % 5 == 4 {
                    #expect(admitted == Self.isGenuine(token), "seed \(seed): \(admitted ? "admitted" : "refused") \(show(token))")
                } else if admitted {
                    #expect(Self.isGenuine(token), "seed \(seed): admitted \(show(token))")
                }
            }
            #expect(Self.refusal(Self.authenticator.admit(queryToken: valid, authorization: nil, now: Self.now)) == nil)
        }

        /// A JSON object of random claims, none of them exp or nbf.
        static func timelessClaims(using random: inout FuzzRandom) -> String {
            guard case .object(var claims) = JSONGenerator.value(depth: 2, using: &random) else { return "{}" }
            claims["exp"] = nil
            claims["nbf"] = nil
            return JSONValue.object(claims).text
        }

        /// A claim value: well typed, or of every other kind, or a number out of range.
        static func claim(_ name: String, using random: inout FuzzRandom) -> JSONValue? {
            switch random.int(0...6) {
            case 0: nil
            case 1: .number(String(Int(now) + random.int(-1000...1000)))
            case 2: .number(random.pick(["0", "-1", "1e308", "-1e308", "1800000000.5", "99999999999999999999999999", "9223372036854775807"]))
            case 3: .string(random.pick(["", "alice", "0", "1900000000", "\0"]))
            case 4: random.pick([.null, .bool(true), .bool(false), .array([]), .object([:])])
            default: JSONGenerator.value(depth: 3, using: &random)
            }
        }

        @Test("signed tokens with hostile claims are admitted only as their well-typed claims allow", arguments: FuzzSeeds.all)
        func signedClaims(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            for index in 0..<500 {
                await yieldPeriodically(index)
                var claims: [String: JSONValue] = [:]
                for name in ["sub", "exp", "nbf"] { claims[name] = Self.claim(name, using: &random) }
                if random.chance(30) { claims[random.text(3)] = JSONGenerator.value(depth: 3, using: &random) }
                let payload = JSONValue.object(claims).text
                let token = Self.sign(payload: Array(payload.utf8))
                let result = Self.admit(token, using: &random)
                let context = Comment(rawValue: "seed \(seed): claims \(payload)")
                #expect(Self.refusal(result) == Self.expectedRefusal(token: token, payload: payload), context)
                if case .success(let admission) = result {
                    // The claims as the authenticator reads them: numbers in JSONValue's spelling.
                    guard case .object(let read)? = try? JSONValue(parsing: payload.utf8) else { continue }
                    let expected: String? =
                        switch read["sub"] {
                        case .string(let subject)?: subject
                        case .number(let subject)?: subject
                        default: nil
                        }
                    #expect(admission.userID == expected, context)
                }
            }
        }

        /// The refusal a genuine token with `payload` must get (nil: admitted), from RFC 7519's
        /// rules: `exp` and `nbf` NumericDates (a number, else refused), `sub` a string or a
        /// number (an empty string refused), at most 8 KiB in all.
        static func expectedRefusal(token: String, payload: String) -> String? {
            if token.utf8.count > 8192 { return "invalid token: longer than 8192 bytes" }
            guard case .object(let claims)? = try? JSONValue(parsing: payload.utf8) else { return "invalid token: bad claims" }
            for name in ["exp", "nbf"] {
                guard let claim = claims[name] else { continue }
                guard case .number(let text) = claim, let seconds = Double(text), seconds.isFinite else {
                    return "invalid token: \"\(name)\" must be a number of seconds"
                }
                if name == "exp", now >= seconds { return "token expired" }
                if name == "nbf", now < seconds { return "token not yet valid" }
            }
            switch claims["sub"] {
            case nil, .null?, .number?: return nil
            case .string(let subject)? where !subject.isEmpty: return nil
            default: return "invalid token: \"sub\" must be a non-empty string or a number"
            }
        }

        @Test("signed payloads that are not JSON objects are refused as bad claims", arguments: FuzzSeeds.all)
        func signedGarbage(seed: UInt64) async {
            var random = FuzzRandom(seed: seed)
            let mutator = Mutator()
            for index in 0..<500 {
                await yieldPeriodically(index)
                let payload =
                    index % 2 == 0
                    ? random.bytes(random.length()) : mutator.mutate(Array(#"{"sub":"alice","exp":1900000000}"#.utf8), using: &random)
                let result = Self.admit(Self.sign(payload: payload), using: &random)
                if case .object? = try? JSONValue(parsing: payload) { continue }
                #expect(Self.refusal(result) == "invalid token: bad claims", "seed \(seed): \(show(payload))")
            }
        }

        @Test("a header or payload nested 100,000 deep is refused without a crash, signed or not")
        func deepNesting() {
            var random = FuzzRandom(seed: 100_000)
            for _ in 0..<2 {
                let deep = JSONGenerator.deep(100_000, using: &random)
                // The header is parsed before the signature is checked: anyone can send this one.
                let unsigned = Self.base64URL(deep) + "." + Self.base64URL(Array("{}".utf8)) + ".c2ln"
                let unsignedResult = Self.authenticator.admit(queryToken: unsigned, authorization: nil, now: Self.now)
                // Far longer than a credential may be: refused before any parsing.
                #expect(Self.refusal(unsignedResult) == "invalid token: longer than 8192 bytes")
                let signedResult = Self.authenticator.admit(queryToken: Self.sign(payload: deep), authorization: nil, now: Self.now)
                #expect(Self.refusal(signedResult) == "invalid token: longer than 8192 bytes")
                // Nested as deep as fits in a credential: the parser's depth limit refuses it.
                let fitting = Array(repeating: UInt8(ascii: "["), count: 3000) + Array(repeating: UInt8(ascii: "]"), count: 3000)
                #expect(Self.refusal(Self.authenticator.admit(queryToken: Self.sign(payload: fitting), authorization: nil, now: Self.now)) == "invalid token: bad claims")
            }
        }

        /// RFC 7519 makes `exp` and `nbf` NumericDates; a token whose `exp` is not a number is not
        /// valid (it used to be skipped, so `"exp":"0"` never expired).
        @Test("exp and nbf of another type than number refuse the token")
        func wrongTypedTimeClaims() {
            for claims in [#"{"sub":"alice","exp":"0"}"#, #"{"sub":"alice","exp":null}"#, #"{"sub":"alice","nbf":["2000000000"]}"#] {
                let result = Self.authenticator.admit(queryToken: Self.sign(payload: Array(claims.utf8)), authorization: nil, now: Self.now)
                #expect(Self.refusal(result) != nil, "\(claims)")
            }
        }
    }
}
