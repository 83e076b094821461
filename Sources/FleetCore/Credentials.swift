import Crypto
import Foundation

/// A set of secrets (API tokens, client tokens) that a presented credential is checked
/// against in constant time: each secret is kept as its SHA-256 digest, and a check compares
/// the candidate's digest with every one of them without stopping early, so that neither the
/// time taken nor its variation tells a caller how much of a guess was right, which secret
/// came close, or how long the secrets are.
public struct Credentials: Sendable, Hashable {
    private let digests: [[UInt8]]

    package init(_ secrets: some Sequence<String>) {
        digests = Set(secrets).filter { !$0.isEmpty }.map { Array(SHA256.hash(data: Data($0.utf8))) }.sorted { $0.lexicographicallyPrecedes($1) }
    }

    /// No secret configured: whatever checks these is open.
    package var isEmpty: Bool { digests.isEmpty }

    package var count: Int { digests.count }

    /// Whether `candidate` is one of the secrets.
    package func contains(_ candidate: String) -> Bool {
        let digest = Array(SHA256.hash(data: Data(candidate.utf8)))
        var found: UInt8 = 1
        for secret in digests {
            var difference: UInt8 = 0
            for index in 0..<digest.count { difference |= digest[index] ^ secret[index] }
            // 0 when equal; `found` turns 0 on any match, with no branch on the bytes.
            found &= (difference == 0 ? 0 : 1)
        }
        return found == 0
    }
}

/// Where an HTTP request may carry a bearer credential: `Authorization: Bearer <token>`.
package enum BearerToken {
    /// The token of an `Authorization` header value, if it is a bearer one (scheme in any
    /// case, as RFC 7235 has it); nil for other schemes, "" for `Bearer` with nothing after it.
    package static func parse(_ authorization: String?) -> String? {
        guard let authorization else { return nil }
        let trimmed = authorization.trimmingCharacters(in: .whitespaces)
        guard trimmed.count >= 6, trimmed.prefix(6).lowercased() == "bearer" else { return nil }
        let rest = trimmed.dropFirst(6)
        guard rest.isEmpty || rest.first == " " || rest.first == "\t" else { return nil }
        return rest.trimmingCharacters(in: .whitespaces)
    }
}
