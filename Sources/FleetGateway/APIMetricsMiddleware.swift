import FleetCore
import FleetHTTP
import Hummingbird
import Observability

/// Counts every API request by event (each event of an event API batch; the route of a
/// REST request) and status, and times it by API. `/healthz`, `/readyz` and `/metrics`,
/// and the files served to browsers, are left out.
struct APIMetricsMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let meter: APIMeter

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard !OperationsRoutes.paths.contains(request.uri.path), !Self.isBrowserFile(request.uri.path) else {
            return try await next(request, context)
        }
        let start = ContinuousClock.now
        let status: Int
        do {
            let response = try await next(request, context)
            status = response.status.code
            record(request, context, status: status, since: start)
            return response
        } catch {
            status = (error as? any HTTPResponseError)?.status.code ?? 500
            record(request, context, status: status, since: start)
            throw error
        }
    }

    private func record(_ request: Request, _ context: Context, status: Int, since start: ContinuousClock.Instant) {
        let route = context.endpointPath ?? "unmatched"
        let (events, api): ([String], String)
        if route == "/" {
            (events, api) = (Self.eventLabels(request.uri.queryParameters["event"].map(String.init)), "event")
        } else {
            (events, api) = ([route == "NotFound" ? "unmatched" : route], "rest")
        }
        meter.request(events: events, api: api, status: status, duration: ContinuousClock.now - start)
    }

    /// The files served to browsers (`/client.js`, the console under `/ui/`): not API requests.
    static func isBrowserFile(_ path: String) -> Bool {
        path == "/client.js" || path == "/ui" || path.hasPrefix("/ui/")
    }

    /// The `event` label of each event of a batch: its name, or `unknown` for a name that is
    /// not an event (so that callers cannot grow the label set), or `none` without any.
    static func eventLabels(_ parameter: String?) -> [String] {
        guard let parameter, !parameter.isEmpty else { return ["none"] }
        return parameter.split(separator: ",", omittingEmptySubsequences: false).map { name in
            FleetEvent(rawValue: name.trimmingBlanks()).map(\.rawValue) ?? "unknown"
        }
    }
}
