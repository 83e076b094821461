import NIOCore
import NIOSSL

/// TLS to Redis (`rediss://`): the server's certificate is verified against `caFile` (PEM)
/// when given, else against the system's trust roots, and its name (or IP address) against
/// the host connected to.
public struct RedisTLS: Sendable, Hashable {
    /// PEM file of the certificate authorities to trust; nil = the system's.
    public var caFile: String?

    public init(caFile: String? = nil) {
        self.caFile = caFile
    }

    /// The client context. - Throws: ``RedisError`` `.invalidURL` when the CA file is unusable.
    func makeContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv12
        if let caFile {
            do {
                configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(caFile))
            } catch {
                throw RedisError(.invalidURL, "REDIS_TLS_CA_FILE \(caFile) is not a usable PEM file of certificates", underlying: error)
            }
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw RedisError(.invalidURL, "cannot set up TLS to Redis", underlying: error)
        }
    }

    /// The TLS handler for a connection to `host`: SNI and name checks for a name; for an IP
    /// address no SNI, and the certificate must name that address.
    func makeHandler(context: NIOSSLContext, host: String) throws -> NIOSSLClientHandler {
        let isAddress = (try? SocketAddress(ipAddress: host, port: 0)) != nil
        return try NIOSSLClientHandler(context: context, serverHostname: isAddress ? nil : host)
    }
}
