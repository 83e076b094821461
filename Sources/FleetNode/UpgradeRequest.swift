import FleetHTTP
import HTTPTypes
import Hummingbird
import HummingbirdCore
import NIOHTTP1

/// A WebSocket upgrade request as every check sees it, whichever layer holds it: the upgrade
/// guard (NIO's request head, before the upgrader), the router's upgrade decision and the
/// protocol's `serve` (Hummingbird's request). One type, one reading of the path and the
/// headers, so that no spelling of the request means one thing to a check and another to
/// the router.
public struct UpgradeRequest: Sendable {
    /// The URI, parsed as the router parses it.
    package let uri: URI
    package let headers: HTTPFields

    package init(uri: URI, headers: HTTPFields) {
        self.uri = uri
        self.headers = headers
    }

    /// The request the router and the protocols see.
    package init(_ request: Request) {
        self.init(uri: request.uri, headers: request.headers)
    }

    /// A request head from NIO's HTTP/1 decoder. A header whose name HTTPTypes refuses is
    /// dropped: such a request never reaches the router either.
    package init(head: HTTPRequestHead) {
        var fields = HTTPFields()
        for (name, value) in head.headers {
            guard let field = HTTPField.Name(name) else { continue }
            fields.append(HTTPField(name: field, value: value))
        }
        self.init(uri: URI(head.uri), headers: fields)
    }

    /// The path's segments as the router matches them: split on `/`, empty segments dropped
    /// (`//`, `/`, and an empty path are all the root).
    package var pathSegments: [Substring] {
        uri.path.split(separator: "/", omittingEmptySubsequences: true)
    }

    /// The first value of the query parameter `name`, percent-decoded.
    package func query(_ name: String) -> String? {
        uri.queryParameters.get(name)
    }

    /// Every value of the header `name`, in order (one per header line).
    package func headerValues(_ name: HTTPField.Name) -> [String] {
        headers[values: name]
    }

    /// Whether the request asks for a WebSocket, as NIO's upgrader reads it.
    package static func asksForWebSocket(_ head: HTTPRequestHead) -> Bool {
        HTTPUpgrade.asksForWebSocket(head)
    }
}

extension RouterPath {
    /// Whether the router would send a request with these path segments to this route, by
    /// the router's own matching of each component (`~=`); `**` matches any rest.
    func matches(_ segments: [Substring]) -> Bool {
        var rest = segments[...]
        for component in components {
            if component == .recursiveWildcard { return true }
            guard let segment = rest.popFirst(), component ~= segment else { return false }
        }
        return rest.isEmpty
    }
}
