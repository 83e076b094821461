/// A TCP port on 127.0.0.1 that is free right now: binds port 0, reads the port the
/// kernel chose, and closes the socket.
///
/// Another process may take the port before you bind it; ``RedisServerProcess`` retries
/// with a new port when that happens.
///
/// - Returns: the port number.
/// - Throws: ``WSCTestingError`` with code `systemCallFailed` if a socket call fails.
package func freeTCPPort() throws -> Int {
    let socket = try LoopbackSocket()
    defer { socket.close() }
    try socket.bind(port: 0)
    return try socket.localPort()
}

/// A TCP port on 127.0.0.1 that refuses connections for as long as this value lives: a
/// socket bound to it without listening holds it, so no other process can take it.
package final class RefusingTCPPort: @unchecked Sendable {
    private let socket: LoopbackSocket
    package let port: Int

    package init() throws {
        socket = try LoopbackSocket()
        do {
            try socket.bind(port: 0)
            port = try socket.localPort()
        } catch {
            socket.close()
            throw error
        }
    }

    deinit { socket.close() }
}
