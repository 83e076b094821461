/// Which close codes a peer may put on the wire (RFC 6455 7.4 and the IANA registry).
enum WebSocketCloseCode {
    /// Whether `code` may arrive in a close frame: the defined codes 1000-1003 and 1007-1014,
    /// and 3000-4999 (libraries and applications). Never 1004-1006 or 1015 (reserved, or
    /// meaning "no frame"), nor anything else below 5000 that is unassigned.
    static func isAllowedOnWire(_ code: UInt16) -> Bool {
        switch code {
        case 1000...1003, 1007...1014, 3000...4999: true
        default: false
        }
    }
}
