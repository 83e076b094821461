import Crypto
import NIOCore

/// A file served to browsers, embedded in the binary.
package struct BrowserAsset: Sendable {
    /// The file's name in `Resources/` (and under `/ui/`).
    package let name: String
    package let contentType: String
    package let body: ByteBuffer
    /// A strong validator of the content: the first 16 bytes of its SHA-256, quoted.
    package let etag: String

    init(name: String, bytes: [UInt8]) {
        self.name = name
        self.contentType = Self.contentType(of: name)
        self.body = ByteBuffer(bytes: bytes)
        let digest = SHA256.hash(data: bytes)
        self.etag = "\"" + digest.prefix(16).map { byte in
            let hex = String(byte, radix: 16)
            return byte < 16 ? "0" + hex : hex
        }.joined() + "\""
    }

    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last {
        case "html": "text/html; charset=utf-8"
        case "js": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        default: "application/octet-stream"
        }
    }
}

/// The browser side, as SwiftPM embedded it from `Resources/` (no file is read at run time,
/// nothing is fetched from elsewhere): `client.js`, the native protocol's client for web
/// pages, and the admin console's files (`index.html`, `ui.css`, `ui-*.js`).
package enum BrowserAssets {
    /// `/client.js`.
    package static let client = BrowserAsset(name: "client.js", bytes: PackageResources.client_js)

    /// The console's files by name: what `/ui/<name>` serves. `index.html` is `/ui/`.
    package static let console: [String: BrowserAsset] = {
        var assets: [String: BrowserAsset] = [:]
        for (name, bytes) in PackageResources.consoleFiles {
            assets[name] = BrowserAsset(name: name, bytes: bytes)
        }
        return assets
    }()
}
