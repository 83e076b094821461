import Crypto
import FleetCore
import Foundation

/// Who may open a native-protocol WebSocket: anyone, when neither `CLIENT_TOKENS` nor
/// `JWT_SECRET` is set; otherwise a client presenting one of the tokens, or a JWT (HS256)
/// signed with the secret, in `?token=` or `Authorization: Bearer`. A JWT's `sub` claim is
/// the user id the connection is bound to.
public struct ClientAuthenticator: Sendable, Hashable {
    public var tokens: Set<String>
    public var jwtSecret: String?

    public init(tokens: Set<String> = [], jwtSecret: String? = nil) {
        self.tokens = tokens
        self.jwtSecret = jwtSecret.flatMap { $0.isEmpty ? nil : $0 }
    }

    public var isOpen: Bool { tokens.isEmpty && jwtSecret == nil }

    /// A client that may connect, and the user id its token names (from a JWT's `sub`).
    public struct Admission: Sendable, Hashable {
        public var userID: String?
    }

    public struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        public var description: String
    }

    /// Checks the credential of an upgrade request.
    /// - Parameters:
    ///   - queryToken: the `token` query parameter, if any.
    ///   - authorization: the `Authorization` header, if any.
    ///   - now: seconds since 1970, for `exp` and `nbf`.
    public func admit(queryToken: String?, authorization: String?, now: Double = Date().timeIntervalSince1970) -> Result<Admission, Refusal> {
        guard !isOpen else { return .success(Admission()) }
        var credential = queryToken
        if credential == nil, let authorization, authorization.lowercased().hasPrefix("bearer ") {
            credential = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        }
        guard let credential, !credential.isEmpty else {
            return .failure(Refusal(description: "a token is required: ?token=... or Authorization: Bearer ..."))
        }
        if tokens.contains(credential) { return .success(Admission()) }
        guard let jwtSecret else { return .failure(Refusal(description: "invalid token")) }
        return JWT.verify(credential, secret: jwtSecret, now: now).map { Admission(userID: $0) }
    }
}

/// Just enough of JSON Web Tokens: HS256 signatures, `exp`, `nbf`, `sub`.
enum JWT {
    static func verify(_ token: String, secret: String, now: Double) -> Result<String?, ClientAuthenticator.Refusal> {
        func refuse(_ reason: String) -> Result<String?, ClientAuthenticator.Refusal> {
            .failure(ClientAuthenticator.Refusal(description: reason))
        }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
            let headerBytes = base64URLDecode(parts[0]), let payloadBytes = base64URLDecode(parts[1]),
            let signature = base64URLDecode(parts[2])
        else { return refuse("invalid token") }
        guard case .object(let header)? = try? JSONValue(parsing: headerBytes), header["alg"] == .string("HS256") else {
            return refuse("invalid token: only HS256 JWTs are accepted")
        }
        let key = SymmetricKey(data: Data(secret.utf8))
        let signed = Data((parts[0] + "." + parts[1]).utf8)
        guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signed, using: key) else {
            return refuse("invalid token: bad signature")
        }
        guard case .object(let claims)? = try? JSONValue(parsing: payloadBytes) else { return refuse("invalid token: bad claims") }
        if case .number(let text)? = claims["exp"], let exp = Double(text), now >= exp { return refuse("token expired") }
        if case .number(let text)? = claims["nbf"], let nbf = Double(text), now < nbf { return refuse("token not yet valid") }
        switch claims["sub"] {
        case .string(let subject)? where !subject.isEmpty: return .success(subject)
        case .number(let subject)?: return .success(subject)
        default: return .success(nil)
        }
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
