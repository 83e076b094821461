import Synchronization

/// A one-shot request to end a connection with a Pusher close code, from outside its session.
final class Kick: Sendable {
    private struct State {
        var fired: PusherClose?
        var waiter: CheckedContinuation<PusherClose?, Never>?
        var cancelled = false
    }
    private let state = Mutex(State())

    init() {}

    /// Ends the connection (the first call wins).
    func fire(_ close: PusherClose) {
        let waiter = state.withLock { state -> CheckedContinuation<PusherClose?, Never>? in
            guard state.fired == nil else { return nil }
            state.fired = close
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: close)
    }

    /// Waits until fired (at once if it was); nil when the waiting task is cancelled first.
    /// One waiter at a time.
    func wait() async -> PusherClose? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<PusherClose?, Never>) in
                let now = state.withLock { state -> PusherClose?? in
                    if let fired = state.fired { return .some(fired) }
                    if state.cancelled { return .some(nil) }
                    state.waiter = continuation
                    return .none
                }
                if let now { continuation.resume(returning: now) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<PusherClose?, Never>? in
                state.cancelled = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

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
}
