import Crypto
import Foundation

/// Pusher's signatures: channel authorization, user sign-in, and signed REST requests, all
/// HMAC-SHA256 in lowercase hex, compared in constant time.
package enum PusherSignature {
    /// `hex(HMAC_SHA256(secret, text))`.
    package static func sign(_ text: String, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: SymmetricKey(data: Data(secret.utf8)))
        return hex(mac)
    }

    /// Whether `signature` is `sign(text, secret)`, compared in constant time.
    package static func verify(_ signature: String, of text: String, secret: String) -> Bool {
        constantTimeEquals(signature, sign(text, secret: secret))
    }

    /// `hex(MD5(body))`, the REST API's `body_md5`.
    package static func md5(_ body: some Sequence<UInt8>) -> String {
        hex(Insecure.MD5.hash(data: Array(body)))
    }

    /// Compares two strings in time that depends only on their lengths.
    package static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        let a = Array(lhs.utf8), b = Array(rhs.utf8)
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<min(a.count, b.count) { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    // MARK: Channel authorization and sign-in

    /// What a `private-`/`presence-` subscription's `auth` signs:
    /// `socket_id:channel` or `socket_id:channel:channel_data`.
    package static func channelAuthText(socketID: String, channel: String, channelData: String?) -> String {
        guard let channelData else { return socketID + ":" + channel }
        return socketID + ":" + channel + ":" + channelData
    }

    /// The `auth` a client presents: `key:signature`.
    package static func channelAuth(app: PusherApp, socketID: String, channel: String, channelData: String?) -> String {
        app.key + ":" + sign(channelAuthText(socketID: socketID, channel: channel, channelData: channelData), secret: app.secret)
    }

    /// The `auth` of `pusher:signin`: `key:HMAC(secret, "socket_id::user::user_data")`.
    package static func signinAuth(app: PusherApp, socketID: String, userData: String) -> String {
        app.key + ":" + sign(socketID + "::user::" + userData, secret: app.secret)
    }

    /// Whether `auth` (`key:signature`) is the app's signature of `text`.
    package static func verifyAuth(_ auth: String, app: PusherApp, text: String) -> Bool {
        guard let colon = auth.firstIndex(of: ":") else { return false }
        let key = auth[..<colon], signature = auth[auth.index(after: colon)...]
        // Both compared, whatever the first says, so the time does not tell which was wrong.
        let keyMatches = constantTimeEquals(String(key), app.key)
        let signatureMatches = verify(String(signature), of: text, secret: app.secret)
        return keyMatches && signatureMatches
    }

    // MARK: REST requests

    /// The text a REST request's `auth_signature` signs: `METHOD\nPATH\nQUERY`, where QUERY is
    /// every parameter but `auth_signature`, keys lowercased, sorted by key, `key=value`
    /// joined by `&`, values not URL-encoded.
    package static func requestText(method: String, path: String, parameters: [(String, String)]) -> String {
        var pairs: [(key: String, value: String)] = []
        for (key, value) in parameters where key.lowercased() != "auth_signature" {
            pairs.append((key.lowercased(), value))
        }
        pairs.sort { lhs, rhs in lhs.key == rhs.key ? lhs.value < rhs.value : lhs.key < rhs.key }
        let query: String = pairs.map { pair in pair.key + "=" + pair.value }.joined(separator: "&")
        return method.uppercased() + "\n" + path + "\n" + query
    }

    /// The query parameters of a signed request, as the server SDKs build them.
    package static func signedParameters(
        app: PusherApp, method: String, path: String, parameters: [(String, String)] = [], body: [UInt8]? = nil, timestamp: Int
    ) -> [(String, String)] {
        var all = parameters
        all.append(("auth_key", app.key))
        all.append(("auth_timestamp", String(timestamp)))
        all.append(("auth_version", "1.0"))
        if let body, !body.isEmpty { all.append(("body_md5", md5(body))) }
        let signature = sign(requestText(method: method, path: path, parameters: all), secret: app.secret)
        all.append(("auth_signature", signature))
        return all
    }
}
