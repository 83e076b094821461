/// An error the event API answers with: an HTTP status and the seed's `code` / `msg`.
package struct APIError: Error, Sendable, Hashable, CustomStringConvertible {
    package var status: Int
    /// 1: bad token or bad request; 2: the broker is unreachable.
    package var code: Int
    package var message: String

    package init(status: Int, code: Int, _ message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    package var description: String { "\(status) code \(code): \(message)" }

    package static func badRequest(_ message: String) -> APIError { APIError(status: 400, code: 1, message) }
    static func unauthorized(_ message: String) -> APIError { APIError(status: 401, code: 1, message) }
    static func tooLarge(limit: Int) -> APIError { APIError(status: 413, code: 1, "request body larger than \(limit) bytes") }
    static func brokerUnavailable(_ detail: String) -> APIError {
        APIError(status: 503, code: 2, "broker unreachable: \(detail)")
    }
}
