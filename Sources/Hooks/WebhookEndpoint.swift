import Crypto
import FleetCore

/// Where a source's events are delivered, which of them, and how the requests are signed.
package struct WebhookEndpoint: Sendable, Hashable {
    /// How requests prove they come from us: an HMAC-SHA256 of the exact body, in hex.
    package enum Signing: Sendable, Hashable {
        /// Pusher's: `X-Pusher-Key` and `X-Pusher-Signature` with the app's secret.
        case pusher(key: String, secret: String)
        /// Ours, for native events: `X-Wscenter-Signature` with `WEBHOOK_SECRET` (unsigned without one).
        case native(secret: String?)
    }

    package var url: String
    /// The event names it receives; nil for every event.
    package var events: Set<String>?
    /// Only events on channels whose name starts (ends) with this (Soketi's `filter`).
    package var channelPrefix: String?
    package var channelSuffix: String?
    /// More headers on every request (Soketi's `headers`); they cannot replace ours.
    package var headers: [String: String]
    package var signing: Signing

    package init(
        url: String, events: Set<String>? = nil, channelPrefix: String? = nil, channelSuffix: String? = nil,
        headers: [String: String] = [:], signing: Signing
    ) {
        self.url = url
        self.events = events
        self.channelPrefix = channelPrefix
        self.channelSuffix = channelSuffix
        self.headers = headers
        self.signing = signing
    }

    /// Whether `event` goes to this endpoint: its name is wanted and its channel passes the filter.
    package func accepts(_ event: HookEvent) -> Bool {
        if let events, !events.contains(event.name) { return false }
        guard channelPrefix != nil || channelSuffix != nil else { return true }
        guard let channel = event.channel else { return false }
        if let channelPrefix, !channel.hasPrefix(channelPrefix) { return false }
        if let channelSuffix, !channel.hasSuffix(channelSuffix) { return false }
        return true
    }

    /// The request that delivers `events` (already filtered) at `timeMs`: Pusher's envelope
    /// `{"time_ms":…,"events":[…]}` and the headers, signature included.
    package func request(for events: [HookEvent], timeMs: Int64) -> (body: String, headers: [(String, String)]) {
        var body = #"{"time_ms":"#
        body += String(timeMs)
        body += #","events":["#
        for (index, event) in events.enumerated() {
            if index > 0 { body += "," }
            body += event.json
        }
        body += "]}"
        var headers: [(String, String)] = headers
            .filter { !Self.reserved.contains($0.key.lowercased()) }
            .sorted { $0.key < $1.key }
            .map { ($0.key, $0.value) }
        headers.append(("Content-Type", "application/json"))
        switch signing {
        case .pusher(let key, let secret):
            headers.append(("X-Pusher-Key", key))
            headers.append(("X-Pusher-Signature", Self.signature(of: body, secret: secret)))
        case .native(let secret?):
            headers.append(("X-Wscenter-Signature", Self.signature(of: body, secret: secret)))
        case .native(nil):
            break
        }
        return (body, headers)
    }

    /// Hex HMAC-SHA256 of `body` with `secret`.
    package static func signature(of body: String, secret: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(for: Array(body.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return code.map { byte in
            let digits = Array("0123456789abcdef".utf8)
            return String(decoding: [digits[Int(byte >> 4)], digits[Int(byte & 0xF)]], as: UTF8.self)
        }.joined()
    }

    /// Headers an endpoint's own `headers` may not set.
    static let reserved: Set<String> = [
        "content-type", "content-length", "host", "x-pusher-key", "x-pusher-signature", "x-wscenter-signature", "transfer-encoding",
    ]
}
