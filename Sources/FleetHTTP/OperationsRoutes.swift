import Hummingbird
import NIOCore
import Observability

/// `GET /healthz`, `GET /readyz` and `GET /metrics`, which the node (on its WebSocket port)
/// and the gateway (on its HTTP port) both serve.
package struct OperationsRoutes: Sendable {
    /// The paths, which API metrics leave out.
    package static let paths: Set<String> = ["/healthz", "/readyz", "/metrics"]

    let telemetry: Telemetry
    let readiness: @Sendable () async -> ReadinessReport
    let beforeMetrics: @Sendable () async -> Void

    /// - Parameters:
    ///   - readiness: the checks behind `/readyz`.
    ///   - beforeMetrics: brings gauges read on demand up to date before `/metrics` renders.
    package init(
        telemetry: Telemetry,
        readiness: @escaping @Sendable () async -> ReadinessReport,
        beforeMetrics: @escaping @Sendable () async -> Void = {}
    ) {
        self.telemetry = telemetry
        self.readiness = readiness
        self.beforeMetrics = beforeMetrics
    }

    package func add(to router: Router<BasicRequestContext>) {
        // Alive: the process answers HTTP. Nothing else is checked, so that a broker outage
        // makes the process unready, never restarted.
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok\n")))
        }
        router.get("/readyz") { _, _ in
            let report = await readiness()
            return Response(
                status: HTTPResponse.Status(code: report.status),
                headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(string: report.json + "\n"))
            )
        }
        router.get("/metrics") { _, _ in
            await beforeMetrics()
            return Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                body: .init(byteBuffer: ByteBuffer(bytes: telemetry.render()))
            )
        }
    }
}
