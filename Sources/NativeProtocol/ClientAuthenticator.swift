import Crypto
import FleetCore
import Foundation

/// Who may open a native-protocol WebSocket: anyone, when neither `CLIENT_TOKENS` nor
/// `JWT_SECRET` is set; otherwise a client presenting one of the tokens (compared in constant
/// time), or a JWT (HS256) signed with the secret, in `?token=` or `Authorization: Bearer`.
/// A JWT's `sub` claim is the user id the connection is bound to.
public struct ClientAuthenticator: Sendable, Hashable {
    /// The shortest `JWT_SECRET` accepted: 32 bytes, the size of the HS256 hash (RFC 7518 §3.2).
    public static let minimumSecretLength = 32

    public var tokens: Credentials
    public var jwtSecret: String?
    /// The `iss` a JWT must carry, when set (`JWT_ISSUER`).
    public var issuer: String?
    /// The audience a JWT's `aud` (a string, or an array of them) must name, when set (`JWT_AUDIENCE`).
    public var audience: String?

    public init(tokens: Set<String> = [], jwtSecret: String? = nil, issuer: String? = nil, audience: String? = nil) {
        self.tokens = Credentials(tokens)
        self.jwtSecret = jwtSecret.flatMap { $0.isEmpty ? nil : $0 }
        self.issuer = issuer.flatMap { $0.isEmpty ? nil : $0 }
        self.audience = audience.flatMap { $0.isEmpty ? nil : $0 }
    }

    package var isOpen: Bool { tokens.isEmpty && jwtSecret == nil }

    /// A client that may connect, and the user id its token names (from a JWT's `sub`).
    package struct Admission: Sendable, Hashable {
        package var userID: String?
    }

    package struct Refusal: Error, Sendable, Hashable, CustomStringConvertible {
        package var description: String
    }

    /// Checks the credential of an upgrade request.
    /// - Parameters:
    ///   - queryToken: the `token` query parameter, if any.
    ///   - authorization: the `Authorization` header, if any.
    ///   - now: seconds since 1970, for `exp` and `nbf`.
    package func admit(queryToken: String?, authorization: String?, now: Double = Date().timeIntervalSince1970) -> Result<Admission, Refusal> {
        guard !isOpen else { return .success(Admission()) }
        guard let credential = queryToken ?? BearerToken.parse(authorization), !credential.isEmpty else {
            return .failure(Refusal(description: "a token is required: ?token=... or Authorization: Bearer ..."))
        }
        if tokens.contains(credential) { return .success(Admission()) }
        guard let jwtSecret else { return .failure(Refusal(description: "invalid token")) }
        let expected = JWT.Expectations(issuer: issuer, audience: audience)
        return JWT.verify(credential, secret: jwtSecret, expecting: expected, now: now).map { Admission(userID: $0) }
    }
}

/// Just enough of JSON Web Tokens: HS256 signatures and the registered claims `exp`, `nbf`
/// (numbers), `iss`, `aud` (checked when expected) and `sub` (a string or a number). A claim
/// of the wrong type refuses the token rather than being ignored.
enum JWT {
    struct Expectations: Sendable, Hashable {
        var issuer: String?
        var audience: String?
    }

    /// Longest token read (a JWT in a URL stays far below this).
    static let maximumLength = 8192

    static func verify(_ token: String, secret: String, expecting expected: Expectations = .init(), now: Double) -> Result<String?, ClientAuthenticator.Refusal> {
        func refuse(_ reason: String) -> Result<String?, ClientAuthenticator.Refusal> {
            .failure(ClientAuthenticator.Refusal(description: reason))
        }
        guard token.utf8.count <= maximumLength else { return refuse("invalid token: longer than \(maximumLength) bytes") }
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
        for name in ["exp", "nbf"] {
            guard let claim = claims[name] else { continue }
            guard case .number(let text) = claim, let seconds = Double(text), seconds.isFinite else {
                return refuse("invalid token: \"\(name)\" must be a number of seconds")
            }
            if name == "exp", now >= seconds { return refuse("token expired") }
            if name == "nbf", now < seconds { return refuse("token not yet valid") }
        }
        if let issuer = expected.issuer, claims["iss"] != .string(issuer) {
            return refuse("invalid token: wrong or missing \"iss\"")
        }
        if let audience = expected.audience {
            let named: Bool
            switch claims["aud"] {
            case .string(let value)?: named = value == audience
            case .array(let values)?: named = values.contains(.string(audience))
            default: named = false
            }
            guard named else { return refuse("invalid token: wrong or missing \"aud\"") }
        }
        switch claims["sub"] {
        case nil, .null?: return .success(nil)
        case .string(let subject)? where !subject.isEmpty: return .success(subject)
        case .number(let subject)?: return .success(subject)
        default: return refuse("invalid token: \"sub\" must be a non-empty string or a number")
        }
    }

    static func base64URLDecode(_ text: Substring) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
