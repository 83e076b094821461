import Crypto
import NIOHTTP1
import NIOWebSocket

/// The server's side of the opening handshake (RFC 6455 4.2), without I/O.
enum WebSocketHandshake {
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// The `Sec-WebSocket-Accept` value for a client's key: base64(SHA-1(key + GUID)).
    static func acceptValue(forKey key: String) -> String {
        Base64.encode(Array(Insecure.SHA1.hash(data: Array((key + guid).utf8))))
    }

    /// Checks the request's version and key; returns the accept value.
    /// - Throws: `NIOWebSocketUpgradeError.invalidUpgradeHeader` unless there is exactly one
    ///   `Sec-WebSocket-Version` of "13" and exactly one `Sec-WebSocket-Key` that is the base64
    ///   of 16 bytes.
    static func validate(_ headers: HTTPHeaders) throws -> String {
        let versions = headers[canonicalForm: "Sec-WebSocket-Version"]
        let keys = headers[canonicalForm: "Sec-WebSocket-Key"]
        guard versions.count == 1, versions[0] == "13", keys.count == 1 else {
            throw NIOWebSocketUpgradeError.invalidUpgradeHeader
        }
        let key = String(keys[0])
        guard let nonce = Base64.decode(key), nonce.count == 16 else {
            throw NIOWebSocketUpgradeError.invalidUpgradeHeader
        }
        return acceptValue(forKey: key)
    }
}
