import ArgumentParser
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `wscenter health`: probes this host's node and gateway ports for a container
/// HEALTHCHECK, so that the runtime image needs no curl. Exit 0 when any answers 200.
struct Health: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Probe GET /healthz (or /readyz) on this host's node and gateway ports; exit 0 if one answers 200."
    )

    @Flag(help: "Probe /readyz instead of /healthz.")
    var ready = false

    @Option(help: "Address to probe (env HOST; a wildcard address probes 127.0.0.1).")
    var host: String = environment("HOST") ?? "127.0.0.1"

    @Option(help: "Ports to probe, comma-separated (default: PORT and HTTP_PORT, else 8090,8011).")
    var ports: String?

    @Option(help: "Seconds to wait for each answer.")
    var timeout: Double = 2

    @Flag(inversion: .prefixedNo, help: "Probe over TLS (default: when TLS_CERT_FILE is set, as the servers then serve only TLS).")
    var tls: Bool = environment("TLS_CERT_FILE") != nil

    func run() throws {
        let path = ready ? "/readyz" : "/healthz"
        let address = ["0.0.0.0", "::", ""].contains(host) ? "127.0.0.1" : host
        let candidates = ports.map { CommonOptions.split($0).compactMap(Int.init) }
            ?? [environment("PORT").flatMap(Int.init) ?? 8090, environment("HTTP_PORT").flatMap(Int.init) ?? 8011]
        var failures: [String] = []
        for port in candidates {
            let answer = tls
                ? Self.probeTLS(address: address, port: port, path: path, timeout: timeout)
                : Self.probe(address: address, port: port, path: path, timeout: timeout)
            switch answer {
            case .success(let status) where status == 200:
                print("\(address):\(port)\(path): 200")
                return
            case .success(let status):
                failures.append("\(address):\(port)\(path): \(status)")
            case .failure(let reason):
                failures.append("\(address):\(port)\(path): \(reason.description)")
            }
        }
        FileHandle.standardError.write(Data(("not healthy: " + failures.joined(separator: "; ") + "\n").utf8))
        throw ExitCode.failure
    }

    struct ProbeFailure: Error, CustomStringConvertible {
        let description: String
    }

    /// The HTTP status of `GET path` on an IPv4 `address`, over a plain blocking socket.
    static func probe(address: String, port: Int, path: String, timeout: Double) -> Result<Int, ProbeFailure> {
        #if canImport(Glibc) || canImport(Musl)
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        #else
        let descriptor = socket(AF_INET, SOCK_STREAM, 0)
        #endif
        guard descriptor >= 0 else { return .failure(ProbeFailure(description: "socket: errno \(errno)")) }
        defer { close(descriptor) }
        var limit = timeval(tv_sec: Int(timeout), tv_usec: .init((timeout - timeout.rounded(.down)) * 1_000_000))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var target = sockaddr_in()
        target.sin_family = sa_family_t(AF_INET)
        target.sin_port = in_port_t(UInt16(clamping: port).bigEndian)
        guard inet_pton(AF_INET, address, &target.sin_addr) == 1 else {
            return .failure(ProbeFailure(description: "not an IPv4 address: \(address)"))
        }
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return .failure(ProbeFailure(description: "cannot connect (errno \(errno))")) }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(address):\(port)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, 0) }) == request.count else {
            return .failure(ProbeFailure(description: "cannot send the request"))
        }
        var head: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 512)
        while !head.contains(10) && head.count < 4_096 {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { break }
            head += buffer[0..<count]
        }
        // "HTTP/1.1 200 OK"
        let statusLine = String(decoding: head.prefix { $0 != 13 && $0 != 10 }, as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/"), let status = Int(parts[1]) else {
            return .failure(ProbeFailure(description: "no HTTP answer"))
        }
        return .success(status)
    }
}
