import FleetCore

/// A refused REST request: its HTTP status and a message saying what to change. Answered as
/// `{"error":"<message>"}` (the server SDKs show the body in their exceptions).
package struct PusherAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    package var status: Int
    package var message: String

    package init(_ status: Int, _ message: String) {
        self.status = status
        self.message = message
    }

    package var description: String { "\(status) \(message)" }

    package var json: String { #"{"error":"# + JSONValue.quoted(message) + "}" }

    static func badRequest(_ message: String) -> PusherAPIError { PusherAPIError(400, message) }
    static func unauthorized(_ message: String) -> PusherAPIError { PusherAPIError(401, message) }
    static func forbidden(_ message: String) -> PusherAPIError { PusherAPIError(403, message) }
    static func notFound(_ message: String) -> PusherAPIError { PusherAPIError(404, message) }
    static func tooLarge(_ message: String) -> PusherAPIError { PusherAPIError(413, message) }
    static func unavailable(_ message: String) -> PusherAPIError { PusherAPIError(503, message) }
}
