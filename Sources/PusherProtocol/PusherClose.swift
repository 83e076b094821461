import Foundation

/// Why a Pusher connection ends: a `pusher:error` with this code and message, then a close
/// with the same code.
struct PusherClose: Sendable, Hashable, Error {
    var code: Int
    var message: String

    static func unknownApp(_ key: String) -> PusherClose { PusherClose(code: 4001, message: "App key \(key) does not exist") }
    static let appDisabled = PusherClose(code: 4003, message: "App is disabled")
    static func unsupportedProtocol(_ version: String) -> PusherClose {
        PusherClose(code: 4007, message: "Unsupported protocol version \(version): 5 to 7 are supported")
    }
    static let overQuota = PusherClose(code: 4100, message: "Over capacity: the app has reached its connection limit")
    static let terminated = PusherClose(code: 4009, message: "You got disconnected by the app")
    static func signinTimeout(_ seconds: Double) -> PusherClose {
        PusherClose(code: 4009, message: "Connection not signed in within \(seconds.formatted()) s")
    }
    static let pongTimeout = PusherClose(code: 4201, message: "Pong reply not received")
    static let rateLimited = PusherClose(code: 4301, message: "Too many messages: slow down")
    /// More messages came while a command waited for the broker than may wait
    /// (``PusherSocketSession/waitingLimit``).
    static let tooManyWaiting = PusherClose(code: 4301, message: "Too many messages waiting for an answer: slow down")
}
