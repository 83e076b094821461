import BrokerCore
import FleetHTTP
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

// The services of a wscenter process beside its roles' own (see `RoleContext.start`).

/// The broker, first of the roles' services in the group so that it stops after all of them.
/// The roles wait for its first connection themselves; this service gives up on it after
/// 10 s with an error that says where to look, which ends the process.
struct BrokerService: Service {
    let broker: any Broker
    let logger: Logger

    /// How long the broker may take to connect at start.
    static let readyTimeout = Duration.seconds(10)

    func run() async throws {
        let broker = self.broker
        // Both end when this service's turn to stop comes, after every role has stopped.
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await cancelWhenGracefulShutdown { try await self.waitUntilReady() } }
            group.addTask { try await cancelWhenGracefulShutdown { try await broker.run() } }
        }
    }

    private func waitUntilReady() async throws {
        let connected = broker.events()
        let ready = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                for await event in connected where event == .connected { return true }
                return false
            }
            group.addTask {
                try? await Task.sleep(for: Self.readyTimeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if ready {
            logger.info("broker ready")
        } else if !Task.isCancelled {
            throw RoleError("the broker did not become ready within 10 s (is Redis reachable at REDIS_URL?)")
        }
    }
}

/// The first service of the group, so the last one to stop. The group turns the first
/// SIGTERM or SIGINT into its graceful shutdown; this service logs it, and from then until
/// every other service has stopped it ends the process (status 1) on a second signal, or
/// once `timeout` (`SHUTDOWN_TIMEOUT`) has passed.
///
/// The deadline is not the group's `maximumGracefulShutdownDuration`: that one turns an
/// overrun into cancellation, which stops the services quickly and lets the process exit 0
/// (and cancels this watchdog with them). An overrun must end with status 1 and say so.
struct ShutdownWatchdog: Service {
    let timeout: Duration
    let logger: Logger

    func run() async {
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Ends when this service's own turn to stop comes: every other service has stopped.
        var iterator = signals.cancelOnGracefulShutdown().makeAsyncIterator()
        guard let first = await iterator.next() else { return }
        logger.notice("draining", metadata: ["signal": "\(first)", "shutdown_timeout": "\(timeout)"])
        let timeout = self.timeout
        let logger = self.logger
        await withDiscardingTaskGroup { group in
            group.addTask {
                guard (try? await Task.sleep(for: timeout)) != nil else { return }
                logger.error("shutdown did not finish within SHUTDOWN_TIMEOUT: exiting", metadata: ["shutdown_timeout": "\(timeout)"])
                exit(1)
            }
            if let second = await iterator.next() {
                logger.warning("second signal: exiting without finishing the drain", metadata: ["signal": "\(second)"])
                exit(1)
            }
            group.cancelAll()
        }
    }
}

/// SIGHUP reads the certificate and key files again: connections accepted from then on use
/// the new ones. A pair that cannot be used is logged and the old one kept.
struct CertificateReloader: Service {
    let certificates: TLSCertificateStore
    let logger: Logger

    func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                try certificates.reload()
                logger.notice("TLS certificate reloaded", metadata: ["cert": "\(certificates.certificateFile)"])
            } catch {
                logger.error("TLS certificate not reloaded: still serving the previous one", metadata: ["error": "\(error)"])
            }
        }
    }
}
