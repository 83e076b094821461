import Foundation
import PusherCore

/// Checks a REST request's signature exactly as Pusher does: `auth_key` names the app,
/// `auth_timestamp` is within ±600 s, `auth_version` is 1.0, `body_md5` matches a body, and
/// `auth_signature` is HMAC-SHA256 of `METHOD\nPATH\nQUERY` (see ``PusherSignature``).
package struct RequestAuthenticator: Sendable {
    package let apps: PusherApps
    /// A path prefix a reverse proxy adds or strips (`API_PATH_PREFIX`, e.g. `/pusher`): a
    /// signature over the path with or without it is accepted.
    package let pathPrefix: String
    /// Largest difference between `auth_timestamp` and the server's clock.
    package static let maxClockSkew = 600

    package init(apps: PusherApps, pathPrefix: String = "") {
        self.apps = apps
        var prefix = pathPrefix
        while prefix.hasSuffix("/") { prefix.removeLast() }
        if !prefix.isEmpty, !prefix.hasPrefix("/") { prefix = "/" + prefix }
        self.pathPrefix = prefix
    }

    /// The app a request is signed for.
    /// - Parameters:
    ///   - appID: the app id of the path, if it has one (else the app of `auth_key`).
    ///   - path: the path as received (without the query).
    ///   - parameters: the query's parameters, decoded.
    ///   - now: seconds since 1970.
    /// - Throws: ``PusherAPIError`` 404 unknown app, 401 bad signature, stale timestamp or
    ///   body_md5, 403 disabled app, 400 missing parameters.
    package func authenticate(
        method: String, path: String, appID: String?, parameters: [(String, String)], body: [UInt8]?, now: Int
    ) throws(PusherAPIError) -> PusherApp {
        func parameter(_ name: String) -> String? { parameters.first { $0.0.lowercased() == name }?.1 }
        guard let key = parameter("auth_key") else { throw .unauthorized("Missing auth_key: sign the request as the Pusher server SDKs do") }
        let app: PusherApp
        if let appID {
            guard let found = apps.app(id: appID) else { throw .notFound("Unknown app id \(appID)") }
            guard PusherSignature.constantTimeEquals(key, found.key) else { throw .unauthorized("auth_key \(key) is not the key of app \(appID)") }
            app = found
        } else {
            guard let found = apps.app(key: key) else { throw .unauthorized("Unknown auth_key \(key)") }
            app = found
        }
        guard let signature = parameter("auth_signature") else { throw .unauthorized("Missing auth_signature") }
        guard let stamp = parameter("auth_timestamp"), let timestamp = Int(stamp) else {
            throw .unauthorized("Missing or invalid auth_timestamp (seconds since 1970)")
        }
        guard abs(now - timestamp) <= Self.maxClockSkew else {
            throw .unauthorized("Timestamp expired: auth_timestamp \(timestamp) is more than \(Self.maxClockSkew) s from the server's time \(now)")
        }
        guard parameter("auth_version") == "1.0" else { throw .unauthorized("auth_version must be 1.0") }
        if let body, !body.isEmpty {
            let md5 = PusherSignature.md5(body)
            guard let sent = parameter("body_md5") else { throw .unauthorized("Missing body_md5 for a request with a body") }
            guard PusherSignature.constantTimeEquals(sent, md5) else {
                throw .unauthorized("body_md5 \(sent) does not match the body (its MD5 is \(md5))")
            }
        }
        let candidates = candidatePaths(path)
        for candidate in candidates {
            let text = PusherSignature.requestText(method: method, path: candidate, parameters: parameters)
            if PusherSignature.verify(signature, of: text, secret: app.secret) {
                guard app.enabled else { throw .forbidden("App \(app.id) is disabled") }
                return app
            }
        }
        let expected = PusherSignature.requestText(method: method, path: candidates[0], parameters: parameters)
        throw .unauthorized(
            "Invalid signature: expected HMAC-SHA256 hex of \"\(expected.replacingOccurrences(of: "\n", with: "\\n"))\" with the app's secret"
        )
    }

    /// The path as received, then with the proxy's prefix added or removed.
    func candidatePaths(_ path: String) -> [String] {
        guard !pathPrefix.isEmpty else { return [path] }
        if path.hasPrefix(pathPrefix + "/") { return [path, String(path.dropFirst(pathPrefix.count))] }
        return [path, pathPrefix + path]
    }
}
