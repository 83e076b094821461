import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing
import WSCTesting

/// The files the binary serves to browsers (`/client.js` on node and gateway, the console at
/// `/ui/` on the gateway), byte for byte what is in `Sources/WebUI/Resources/`, with the
/// headers a browser needs. The console's behaviour is tested in Chromium (Tests/browser).
@Suite("Browser files served by wscenter serve")
struct BrowserFilesProcessTests {
    /// `Sources/WebUI/Resources/`, where the embedded files come from.
    static let resources = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources/WebUI/Resources")

    static func start() async throws -> (process: ServiceProcess, node: Int, gateway: Int) {
        let process = try ServiceProcess.start(
            executable: try wscenterBinary(),
            arguments: ["serve", "--host", "127.0.0.1", "--port", "0", "--http-port", "0"],
            removing: ["REDIS_URL", "TOKEN", "NODE_ID", "PORT", "HTTP_PORT", "ECHO_PATH"]
        )
        return (process, try await process.listeningPort(role: "node"), try await process.listeningPort(role: "gateway"))
    }

    static func get(port: Int, _ path: String) async throws -> (status: Int, headers: [String: String], body: Data) {
        let session = HTTPSession()
        var request = URLRequest(url: try #require(URL(string: "http://127.0.0.1:\(port)\(path)")))
        request.cachePolicy = .reloadIgnoringLocalCacheData
        let (body, response) = try await session.urlSession.data(for: request)
        let http = try #require(response as? HTTPURLResponse)
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
        }
        return (http.statusCode, headers, body)
    }

    @Test("every file of Resources/ is served, byte for byte, with its type, an ETag, no-cache and nosniff; the console's with its CSP")
    func everyFile() async throws {
        let (process, node, gateway) = try await Self.start()
        defer { process.kill() }
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.resources.path).sorted()
        #expect(names.contains("client.js") && names.contains("index.html"), "\(names)")
        for name in names {
            let onDisk = try Data(contentsOf: Self.resources.appendingPathComponent(name))
            let paths: [(Int, String)] = name == "client.js" ? [(node, "/client.js"), (gateway, "/client.js")] : [(gateway, "/ui/\(name)")]
            for (port, path) in paths {
                let (status, headers, body) = try await Self.get(port: port, path)
                #expect(status == 200, "\(path)")
                #expect(body == onDisk, "\(path) is not the file in Resources/ (\(body.count) vs \(onDisk.count) bytes)")
                let type = headers["content-type"] ?? ""
                switch (name as NSString).pathExtension {
                case "js": #expect(type == "text/javascript; charset=utf-8", "\(path)")
                case "css": #expect(type == "text/css; charset=utf-8", "\(path)")
                case "html": #expect(type == "text/html; charset=utf-8", "\(path)")
                default: Issue.record("an unexpected kind of file in Resources/: \(name)")
                }
                #expect(headers["etag"]?.hasPrefix("\"") == true && headers["cache-control"] == "no-cache" && headers["x-content-type-options"] == "nosniff", "\(path): \(headers)")
                if name == "client.js" {
                    #expect(headers["access-control-allow-origin"] == "*", "any page may import /client.js")
                } else {
                    let policy = headers["content-security-policy"] ?? ""
                    #expect(policy.contains("script-src 'self'") && policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"), "\(policy)")
                }
            }
        }
        // `/ui/` is the page itself.
        let page = try await Self.get(port: gateway, "/ui/")
        let index = try Data(contentsOf: Self.resources.appendingPathComponent("index.html"))
        #expect(page.status == 200 && page.body == index)
    }

    @Test("/ui redirects to /ui/; a current ETag gets 304 without a body; HEAD has no body; other paths 404; none is counted as an API request")
    func protocolDetails() async throws {
        let (process, node, gateway) = try await Self.start()
        defer { process.kill() }
        let redirect = try await RawHTTP.exchange(port: gateway, "GET /ui HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(redirect.status == 308 && redirect.head.lowercased().contains("location: /ui/\r\n"), "\(redirect)")

        let etag = try #require(try await Self.get(port: node, "/client.js").headers["etag"])
        let conditional = try await RawHTTP.exchange(port: node, "GET /client.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\", \(etag)\r\nConnection: close\r\n\r\n")
        #expect(conditional.status == 304 && conditional.after.isEmpty, "\(conditional)")
        let stale = try await RawHTTP.exchange(port: node, "GET /client.js HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"other\"\r\nConnection: close\r\n\r\n")
        #expect(stale.status == 200 && !stale.after.isEmpty)

        let head = try await RawHTTP.exchange(port: gateway, "HEAD /ui/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        #expect(head.status == 200 && head.after.isEmpty && head.head.lowercased().contains("content-length: "), "\(head)")

        for path in ["/ui/nope.js", "/ui/..%2FPackage.swift", "/ui/%2e%2e/%2e%2e/Package.swift", "/ui/sub/index.html", "/index.html"] {
            let response = try await RawHTTP.exchange(port: gateway, "GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            #expect(response.status == 404, "\(path): \(response)")
        }
        // The console is the gateway's: a node serves /client.js only.
        #expect(try await RawHTTP.exchange(port: node, "GET /ui/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").status == 404)

        let metrics = try await scrape(port: gateway)
        let routes = metrics.samples.compactMap { $0.labels["event"] }
        #expect(!routes.contains { $0.contains("ui") || $0.contains("client.js") }, "\(routes)")
    }
}
