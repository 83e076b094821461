/// The node's count of WebSocket connections, in all and per client address, against
/// `MAX_CONNECTIONS` and `MAX_CONNECTIONS_PER_IP`. A slot is taken when an upgrade is let
/// through (before the upgrader answers), and given back when that TCP connection closes, so
/// that concurrent upgrades cannot overshoot. Only addresses that hold a connection are kept:
/// the map is as large as the connections, never larger.
struct ConnectionLimits: Sendable {
    enum Refusal: Equatable, Sendable {
        /// The node holds `MAX_CONNECTIONS` (503).
        case nodeFull(Int)
        /// This address holds `MAX_CONNECTIONS_PER_IP` (429).
        case addressFull(Int)
    }

    var maxConnections: Int
    var maxPerAddress: Int
    private(set) var total = 0
    private(set) var byAddress: [String: Int] = [:]

    init(maxConnections: Int, maxPerAddress: Int) {
        self.maxConnections = maxConnections
        self.maxPerAddress = maxPerAddress
    }

    /// Takes a slot for `address`, or says why not.
    mutating func reserve(_ address: String) -> Refusal? {
        if maxConnections > 0, total >= maxConnections { return .nodeFull(maxConnections) }
        let held = byAddress[address, default: 0]
        if maxPerAddress > 0, held >= maxPerAddress { return .addressFull(maxPerAddress) }
        total += 1
        byAddress[address] = held + 1
        return nil
    }

    /// Gives back a slot `reserve` took.
    mutating func release(_ address: String) {
        guard let held = byAddress[address] else { return }
        total -= 1
        byAddress[address] = held > 1 ? held - 1 : nil
    }
}
