import Foundation

/// Which `Origin` header a WebSocket upgrade may carry (`ALLOWED_ORIGINS`). Browsers always
/// send one, so a page on another site cannot open a socket with its visitor's cookies or
/// network position; clients that are not browsers send none, and are let through (they
/// can send any header they like, so an Origin check could not stop them anyway).
package enum OriginPolicy: Sendable, Hashable {
    case any
    /// Exact origins (`https://app.example.com`, compared without case) and subdomain
    /// patterns (`https://*.example.com`: any subdomain, not the domain itself).
    case only([String])

    /// Parses a comma-separated list; `*` (or an empty list) is ``any``. Each entry must be
    /// `scheme://host[:port]` with no path, `scheme://*.domain[:port]`, or `null`.
    package init(parsing text: String) throws(OriginPolicyError) {
        let entries = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if entries.isEmpty || entries == ["*"] {
            self = .any
            return
        }
        for entry in entries where entry != "null" {
            guard let range = entry.range(of: "://"), !entry[..<range.lowerBound].isEmpty else {
                throw OriginPolicyError(entry: entry, reason: "an origin is scheme://host[:port]")
            }
            let host = entry[range.upperBound...]
            guard !host.isEmpty, !host.contains("/"), !host.contains("?"), !host.contains("#") else {
                throw OriginPolicyError(entry: entry, reason: "an origin has no path, query or fragment")
            }
            let wildcard = host.hasPrefix("*.")
            guard !host.dropFirst(wildcard ? 2 : 0).contains("*"), !(wildcard && host.count <= 2) else {
                throw OriginPolicyError(entry: entry, reason: "a wildcard may only stand for the subdomains: scheme://*.domain")
            }
        }
        self = .only(entries)
    }

    /// Whether an upgrade with these `Origin` header values may proceed. No header: allowed.
    /// More than one: refused (a browser sends exactly one).
    package func allows(_ origins: [String]) -> Bool {
        guard case .only(let allowed) = self, !origins.isEmpty else { return true }
        guard origins.count == 1 else { return false }
        let origin = origins[0].trimmingCharacters(in: .whitespaces).lowercased()
        return allowed.contains { Self.matches(origin, pattern: $0) }
    }

    static func matches(_ origin: String, pattern: String) -> Bool {
        guard let star = pattern.range(of: "://*.") else { return origin == pattern }
        // scheme://*.domain[:port] matches scheme://<label(s)>.domain[:port].
        let scheme = pattern[..<star.lowerBound]
        let suffix = "." + pattern[star.upperBound...]
        guard origin.hasPrefix(scheme + "://") else { return false }
        let host = origin.dropFirst(scheme.count + 3)
        return host.hasSuffix(suffix) && host.count > suffix.count && !host.dropLast(suffix.count).contains(where: { ":/".contains($0) })
    }
}

package struct OriginPolicyError: Error, Sendable, CustomStringConvertible {
    package let entry: String
    package let reason: String
    package var description: String { "\"\(entry)\": \(reason)" }
}
