import HTTPTypes
import Hummingbird
import NIOCore

/// The routes that serve ``BrowserAssets``: `GET`/`HEAD /client.js` (nodes and gateways) and
/// `/ui/` (gateways). Each answer carries its `ETag` and `Cache-Control: no-cache`, so that a
/// browser revalidates (304 when unchanged) and an upgraded binary is picked up at once.
package enum BrowserRoutes {
    /// The console's policy: its own scripts and styles only (no inline code, nothing from
    /// elsewhere); API calls to its gateway, WebSockets and HTTP to any node (the tester).
    static let consolePolicy = [
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "connect-src 'self' ws: wss: http: https:", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'",
    ].joined(separator: "; ")

    /// `/client.js`: any page may load it (it is public, and an ES module from another origin
    /// needs CORS).
    package static func addClient<Context: RequestContext>(to router: Router<Context>) {
        for method in [HTTPRequest.Method.get, .head] {
            router.on("/client.js", method: method) { request, _ in
                var headers = HTTPFields()
                headers[.accessControlAllowOrigin] = "*"
                headers[HTTPField.Name("Cross-Origin-Resource-Policy")!] = "cross-origin"
                return response(BrowserAssets.client, to: request, extra: headers)
            }
        }
    }

    /// `/ui/` (the console's page; `/ui` is redirected there) and `/ui/<file>`.
    package static func addConsole<Context: RequestContext>(to router: Router<Context>) {
        let headers: HTTPFields = [.contentSecurityPolicy: consolePolicy, HTTPField.Name("X-Frame-Options")!: "DENY"]
        for method in [HTTPRequest.Method.get, .head] {
            // The router reads `/ui` and `/ui/` alike.
            router.on("/ui", method: method) { request, _ in
                guard request.uri.path.hasSuffix("/") else {
                    return Response(status: .permanentRedirect, headers: [.location: "/ui/"])
                }
                return response(BrowserAssets.console["index.html"]!, to: request, extra: headers)
            }
            router.on("/ui/{file}", method: method) { request, context in
                guard let name = context.parameters.get("file"), let asset = BrowserAssets.console[name] else {
                    return Response(status: .notFound, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "no such file\n")))
                }
                return response(asset, to: request, extra: headers)
            }
        }
    }

    /// The asset, or 304 when the browser's copy is current; no body for `HEAD`.
    static func response(_ asset: BrowserAsset, to request: Request, extra: HTTPFields) -> Response {
        var headers = extra
        headers[.contentType] = asset.contentType
        headers[.eTag] = asset.etag
        headers[.cacheControl] = "no-cache"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        headers[HTTPField.Name("Referrer-Policy")!] = "no-referrer"
        if let validators = request.headers[.ifNoneMatch], matches(validators, asset.etag) {
            return Response(status: .notModified, headers: headers)
        }
        headers[.contentLength] = String(asset.body.readableBytes)
        return Response(status: .ok, headers: headers, body: request.method == .head ? .init() : .init(byteBuffer: asset.body))
    }

    /// Whether an `If-None-Match` value names `etag` (or is `*`); weak validators compare by
    /// their tag, as RFC 9110 13.1.2 has it.
    static func matches(_ validators: String, _ etag: String) -> Bool {
        validators.split(separator: ",").contains { candidate in
            let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
            let tag = candidate.drop(while: blank).reversed().drop(while: blank).reversed()
            let text = String(tag)
            return text == "*" || text == etag || text == "W/" + etag
        }
    }
}
