import Crypto
import Foundation
import HTTPTypes
import NativeProtocol
import Testing
import WSCTesting

/// An HS256 JWT with `claims`, signed with `secret`.
func makeJWT(_ claims: String, secret: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#) -> String {
    func encode(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }
    let signingInput = encode(Data(header.utf8)) + "." + encode(Data(claims.utf8))
    let signature = HMAC<SHA256>.authenticationCode(for: Data(signingInput.utf8), using: SymmetricKey(data: Data(secret.utf8)))
    return signingInput + "." + encode(Data(signature))
}

@Suite("Client authentication")
struct ClientAuthTests {
    let auth = ClientAuthenticator(tokens: ["t1", "t2"], jwtSecret: "s3cret")

    @Test("open when nothing is configured")
    func open() throws {
        #expect(try ClientAuthenticator().admit(queryToken: nil, authorization: nil).get().userID == nil)
        #expect(ClientAuthenticator().isOpen && !auth.isOpen)
    }

    @Test("a listed token, in the query or as a bearer header")
    func tokens() throws {
        #expect(try auth.admit(queryToken: "t2", authorization: nil).get().userID == nil)
        #expect(try auth.admit(queryToken: nil, authorization: "Bearer t1").get().userID == nil)
        #expect(throws: ClientAuthenticator.Refusal.self) { try auth.admit(queryToken: nil, authorization: nil).get() }
        #expect(throws: ClientAuthenticator.Refusal.self) { try auth.admit(queryToken: "t3", authorization: nil).get() }
        #expect(throws: ClientAuthenticator.Refusal.self) { try auth.admit(queryToken: nil, authorization: "Basic t1").get() }
        // The bearer scheme in any case, with spaces or a tab; nothing else.
        for header in ["bearer t1", "BEARER t1", "Bearer  t1 ", "Bearer\tt1"] {
            #expect(try auth.admit(queryToken: nil, authorization: header).get().userID == nil, "\(header)")
        }
        for header in ["Bearer", "Bearer ", "Bearert1", "Bearer t1x", "t1", "Token t1"] {
            #expect(throws: ClientAuthenticator.Refusal.self, "\(header)") { try auth.admit(queryToken: nil, authorization: header).get() }
        }
    }

    @Test("claims of the wrong type refuse the token; issuer and audience when expected")
    func strictClaims() throws {
        let now = 1_800_000_000.0
        let wrongTypes = [
            #"{"sub":"alice","exp":"1900000000"}"#,  // a string: was ignored, so the token never expired
            #"{"sub":"alice","exp":null}"#,
            #"{"sub":"alice","exp":true}"#,
            #"{"sub":"alice","nbf":"0"}"#,
            #"{"sub":"alice","nbf":[1]}"#,
            #"{"sub":{"id":"alice"}}"#,
            #"{"sub":""}"#,
            #"{"sub":["alice"]}"#,
        ]
        for claims in wrongTypes {
            let token = makeJWT(claims, secret: "s3cret")
            #expect(throws: ClientAuthenticator.Refusal.self, "\(claims)") { try auth.admit(queryToken: token, authorization: nil, now: now).get() }
        }
        let expecting = ClientAuthenticator(jwtSecret: "s3cret", issuer: "https://auth.example", audience: "wscenter")
        let accepted = [
            #"{"sub":"a","iss":"https://auth.example","aud":"wscenter"}"#,
            #"{"sub":"a","iss":"https://auth.example","aud":["other","wscenter"]}"#,
        ]
        for claims in accepted {
            let token = makeJWT(claims, secret: "s3cret")
            #expect(try expecting.admit(queryToken: token, authorization: nil, now: now).get().userID == "a", "\(claims)")
        }
        let refused = [
            #"{"sub":"a","aud":"wscenter"}"#,
            #"{"sub":"a","iss":"https://evil.example","aud":"wscenter"}"#,
            #"{"sub":"a","iss":"https://auth.example"}"#,
            #"{"sub":"a","iss":"https://auth.example","aud":["other"]}"#,
            #"{"sub":"a","iss":"https://auth.example","aud":"wscenter2"}"#,
            #"{"sub":"a","iss":["https://auth.example"],"aud":"wscenter"}"#,
        ]
        for claims in refused {
            let token = makeJWT(claims, secret: "s3cret")
            #expect(throws: ClientAuthenticator.Refusal.self, "\(claims)") { try expecting.admit(queryToken: token, authorization: nil, now: now).get() }
        }
        let huge = String(repeating: "a", count: 9000)
        #expect(throws: ClientAuthenticator.Refusal.self) { try auth.admit(queryToken: huge, authorization: nil, now: now).get() }
    }

    @Test("JWTs: subject, expiry, not-before, signature, algorithm")
    func jwts() throws {
        let now = 1_800_000_000.0
        let good = makeJWT(#"{"sub":"alice","exp":1800000100}"#, secret: "s3cret")
        #expect(try auth.admit(queryToken: good, authorization: nil, now: now).get().userID == "alice")
        #expect(try auth.admit(queryToken: nil, authorization: "Bearer " + good, now: now).get().userID == "alice")
        let numeric = makeJWT(#"{"sub":42}"#, secret: "s3cret")
        #expect(try auth.admit(queryToken: numeric, authorization: nil, now: now).get().userID == "42")
        let noSubject = makeJWT(#"{"exp":1800000100}"#, secret: "s3cret")
        #expect(try auth.admit(queryToken: noSubject, authorization: nil, now: now).get().userID == nil)

        let refusals = [
            makeJWT(#"{"sub":"alice","exp":1799999999}"#, secret: "s3cret"),  // expired
            makeJWT(#"{"sub":"alice","nbf":1800000500}"#, secret: "s3cret"),  // not yet valid
            makeJWT(#"{"sub":"alice"}"#, secret: "other"),  // wrong key
            makeJWT(#"{"sub":"alice"}"#, secret: "s3cret", header: #"{"alg":"none"}"#),  // algorithm
            good.dropLast(2) + "xx",  // tampered signature
            "a.b",  // not a JWT
        ]
        for token in refusals {
            #expect(throws: ClientAuthenticator.Refusal.self, "\(token)") { try auth.admit(queryToken: String(token), authorization: nil, now: now).get() }
        }
    }

    @Test("upgrades without a valid credential get 401 and no socket; a JWT binds its subject")
    func upgrade() async throws {
        let native = NativeProtocol.Configuration(authenticator: ClientAuthenticator(tokens: ["letmein"], jwtSecret: "s3cret"))
        try await withFleet(.embedded, nodes: 1, gateways: 1, native: native) { fleet in
            let port = fleet.nodePorts[0]
            let error = #expect(throws: WSCTestingError.self) { try IdleWebSocket(port: port) }
            #expect("\(error.map { "\($0)" } ?? "")".contains("upgrade refused: HTTP/1.1 401"), "\(String(describing: error))")
            let refused = try await fleet.get("event=getConnectionCount")
            #expect(refused.total("getConnectionCount") == 0)

            let viaQuery = try await TestWebSocket.connect("ws://127.0.0.1:\(port)/?token=letmein")
            #expect(try await viaQuery.nextJSON()["cmd"] as? String == "open")
            let jwt = makeJWT(#"{"sub":"carol"}"#, secret: "s3cret")
            let viaHeader = try await TestWebSocket.connect("ws://127.0.0.1:\(port)/", headers: [.authorization: "Bearer \(jwt)"])
            let id = try #require(try await viaHeader.nextJSON()["_id"] as? String)
            #expect(try await viaHeader.nextJSON()["type"] as? String == "reconnect_token")
            let answer = try await fleet.get("event=getIds,getConnectionCount,isOnline_Id&isOnline_Id%5B_id%5D=\(id)")
            #expect(answer.union("getIds") == ["carol"])
            #expect(answer.total("getConnectionCount") == 2)
        }
    }
}
