import BrokerCore
import FleetHTTP
import Hummingbird
import HummingbirdCore
import Logging
import Observability
import ServiceLifecycle
import Synchronization

/// The operations endpoints of a standalone `wscenter hooks` on `HTTP_PORT`: `/healthz`,
/// `/readyz` (the broker answers a probe, and the process is not stopping) and `/metrics`
/// (the webhook counters). Nothing else is served.
struct HooksServer: Service {
    let broker: any Broker
    let host: String
    let port: Int
    let telemetry: Telemetry
    let readTimeout: Duration?
    let certificates: TLSCertificateStore?
    let logger: Logger

    func run() async throws {
        let router = Router()
        let stopping = StoppingFlag()
        let broker = self.broker
        OperationsRoutes(telemetry: telemetry, readiness: {
            var report = ReadinessReport()
            if stopping.isSet { report.reasons.append("draining: this hooks worker is shutting down") }
            if case .failure(let failure) = await ReadinessCheck.broker({ try await broker.execute(.ttl(key: "wsc-hooks-probe")) }) {
                report.reasons.append(failure.description)
            }
            return report
        }).add(to: router)
        let (host, port, logger, readTimeout, certificates) = (host, port, logger, readTimeout, certificates)
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in
                hardenedServer(HTTP1Channel(responder: responder), readTimeout: readTimeout, certificates: certificates)
            },
            configuration: .init(address: .hostname(host, port: port), serverName: "wscenter-hooks"),
            onServerRunning: { channel in
                logger.info("hooks listening (healthz, readyz, metrics)", metadata: ["host": "\(host)", "port": "\(channel.localAddress?.port ?? port)"])
            },
            logger: frameworkLogger(logger)
        )
        try await withGracefulShutdownHandler {
            try await application.run()
        } onGracefulShutdown: {
            stopping.set()
        }
    }
}

/// Set once, read from any thread.
private final class StoppingFlag: Sendable {
    private let flag = Atomic<Bool>(false)
    var isSet: Bool { flag.load(ordering: .relaxed) }
    func set() { flag.store(true, ordering: .relaxed) }
}
