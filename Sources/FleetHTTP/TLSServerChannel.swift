import HummingbirdCore
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// A server's certificate and key (`TLS_CERT_FILE`, `TLS_KEY_FILE`), read from PEM files and
/// read again by ``reload()`` (on SIGHUP): connections accepted from then on use the new
/// ones; open connections keep theirs. A reload that fails keeps the previous certificate.
package final class TLSCertificateStore: Sendable {
    package let certificateFile: String
    package let keyFile: String
    private let context: Mutex<NIOSSLContext>

    /// Reads both files. - Throws: ``TLSFilesError`` naming the file that cannot be used.
    package init(certificateFile: String, keyFile: String) throws {
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.context = Mutex(try Self.makeContext(certificateFile: certificateFile, keyFile: keyFile))
    }

    /// Reads the files again; on failure, throws and keeps serving the previous certificate.
    package func reload() throws {
        let fresh = try Self.makeContext(certificateFile: certificateFile, keyFile: keyFile)
        context.withLock { $0 = fresh }
    }

    /// The context new connections use.
    var current: NIOSSLContext { context.withLock { $0 } }

    static func makeContext(certificateFile: String, keyFile: String) throws -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(certificateFile)
        } catch {
            throw TLSFilesError(file: certificateFile, what: "certificate chain (PEM)", underlying: error)
        }
        guard !chain.isEmpty else { throw TLSFilesError(file: certificateFile, what: "certificate chain (PEM)", underlying: nil) }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: keyFile, format: .pem)
        } catch {
            throw TLSFilesError(file: keyFile, what: "private key (PEM)", underlying: error)
        }
        var configuration = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        configuration.minimumTLSVersion = .tlsv12
        // A closing connection waits this long for the client's close_notify (NIO's default is
        // 5 s): a client that never answers must not hold a drain, or a cut, that long.
        configuration.shutdownTimeout = .seconds(1)
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw TLSFilesError(file: certificateFile, what: "certificate matching the key in \(keyFile)", underlying: error)
        }
    }
}

/// A certificate or key file that cannot be used.
package struct TLSFilesError: Error, CustomStringConvertible {
    package let file: String
    package let what: String
    package let underlying: (any Error)?
    package var description: String {
        "\(file) is not a usable \(what)" + (underlying.map { ": \($0)" } ?? "")
    }
}

/// An HTTP server channel behind TLS: the TLS handler goes first in each connection's
/// pipeline, with the store's certificate of the moment.
package struct TLSServerChannel<Base: ServerChildChannel>: ServerChildChannel {
    package typealias Value = Base.Value

    let base: Base
    let certificates: TLSCertificateStore

    package init(base: Base, certificates: TLSCertificateStore) {
        self.base = base
        self.certificates = certificates
    }

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        let context = certificates.current
        return channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: context))
        }.flatMap {
            base.setup(channel: channel, logger: logger)
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await base.handle(value: value, logger: logger)
    }
}

/// Builds the server channel of a node or a gateway: the read timeout and `extra` handlers
/// after the HTTP decoder, and TLS in front when `certificates` is given.
package func hardenedServer<Base: ServerChildChannel>(
    _ base: Base, readTimeout: Duration?, certificates: TLSCertificateStore?,
    handlers: @escaping @Sendable (any Channel) -> [any ChannelHandler] = { _ in [] }
) -> any ServerChildChannel {
    let guarded = GuardedHTTPChannel(base: base, readTimeout: readTimeout, handlers: handlers)
    guard let certificates else { return guarded }
    return TLSServerChannel(base: guarded, certificates: certificates)
}
