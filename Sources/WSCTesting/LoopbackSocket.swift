#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A blocking IPv4 TCP socket on 127.0.0.1, just enough for `freeTCPPort()` and the
/// readiness probe. Owns its descriptor: call ``close()`` exactly once.
struct LoopbackSocket {
    let descriptor: Int32

    /// Opens a TCP socket.
    init() throws {
        #if canImport(Darwin)
        let streamType = SOCK_STREAM
        #else
        let streamType = Int32(SOCK_STREAM.rawValue)
        #endif
        let descriptor = socket(AF_INET, streamType, 0)
        guard descriptor >= 0 else { throw Self.error("socket") }
        self.descriptor = descriptor
        #if canImport(Darwin)
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
    }

    /// Binds to 127.0.0.1:`port` (0 lets the kernel choose).
    func bind(port: Int) throws {
        var address = Self.loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemBind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard result == 0 else { throw Self.error("bind") }
    }

    /// Connects to 127.0.0.1:`port`; returns false when nothing accepts there yet.
    func connect(port: Int) -> Bool {
        var address = Self.loopback(port: port)
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                systemConnect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        return result == 0
    }

    /// The port this socket is bound to.
    func localPort() throws -> Int {
        var address = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let result = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                getsockname(descriptor, $0, &length)
            }
        }
        guard result == 0 else { throw Self.error("getsockname") }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    /// Makes `send` and `recv` give up after `milliseconds`.
    func setTimeouts(milliseconds: Int) {
        var timeout = timeval(tv_sec: milliseconds / 1000, tv_usec: .init((milliseconds % 1000) * 1000))
        let size = socklen_t(MemoryLayout<timeval>.size)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, size)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &timeout, size)
    }

    /// Sends all of `bytes`; returns false on error or timeout.
    func send(_ bytes: [UInt8]) -> Bool {
        #if canImport(Darwin)
        let flags: Int32 = 0
        #else
        let flags = Int32(MSG_NOSIGNAL)
        #endif
        var sent = 0
        while sent < bytes.count {
            let count = bytes.withUnsafeBytes {
                systemSend(descriptor, $0.baseAddress! + sent, bytes.count - sent, flags)
            }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// Receives up to `limit` bytes; returns nil on error, timeout or end of stream.
    func receive(limit: Int = 4096) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRecv(descriptor, $0.baseAddress!, limit, 0) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { return nil }
            return Array(buffer.prefix(count))
        }
    }

    enum ReceiveOutcome {
        case bytes([UInt8])
        /// Nothing within the receive timeout; the connection is still open.
        case timedOut
        /// The peer closed (or reset) the connection.
        case ended
    }

    /// Receives up to `limit` bytes, telling a timeout from the end of the stream.
    func receiveOutcome(limit: Int = 65_536) -> ReceiveOutcome {
        var buffer = [UInt8](repeating: 0, count: limit)
        while true {
            let count = buffer.withUnsafeMutableBytes { systemRecv(descriptor, $0.baseAddress!, limit, 0) }
            if count > 0 { return .bytes(Array(buffer.prefix(count))) }
            if count == 0 { return .ended }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: return .timedOut
            default: return .ended
            }
        }
    }

    func close() {
        _ = systemClose(descriptor)
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        #if canImport(Darwin)
        address.sin_len = UInt8(MemoryLayout<sockaddr_in>.size)
        #endif
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(truncatingIfNeeded: port).bigEndian
        address.sin_addr = in_addr(s_addr: UInt32(0x7F00_0001).bigEndian)
        return address
    }

    private static func error(_ call: String, file: String = #fileID, line: Int = #line) -> WSCTestingError {
        let reason = String(cString: strerror(errno))
        return WSCTestingError(.systemCallFailed, "\(call)() on 127.0.0.1 failed: \(reason)", file: file, line: line)
    }
}

// The C functions, under names that do not collide with the methods above.
private let systemBind = bind
private let systemConnect = connect
private let systemSend = send
private let systemRecv = recv
private let systemClose = close
