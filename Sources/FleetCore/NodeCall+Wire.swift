// The bodies of calls and replies on the bus (docs/redis.md), written and read by hand: one
// typed payload per operation and per result, JSON text that `redis-cli SUBSCRIBE` shows as
// it is. Keys may come in any order, unknown keys are skipped, `null` stands for an absent
// optional.
//
// Reading is one pass over bytes lent by the message itself (`withUTF8` of the body, a view
// into the received payload): no copy of the text, no String for a key or a name, only the
// values kept become Strings. Nothing on this path is generic, so a node or a gateway calling
// it from its own module runs this module's compiled code, without instantiating generic
// metadata per message.

extension NodeCall {
    /// The call's JSON body: `{"ops":[…]}`.
    package func wireText() -> String {
        var out = ""
        out.reserveCapacity(estimatedWireSize)
        write(to: &out)
        return out
    }

    /// Appends the call's JSON body to `out`, e.g. straight into the message that carries it.
    public func write(to out: inout String) {
        out += #"{"ops":["#
        for index in operations.indices {
            if index > 0 { out += "," }
            operations[index].write(to: &out)
        }
        out += "]}"
    }

    /// About the number of bytes ``write(to:)`` appends (exactly, unless values need escapes),
    /// to reserve them at once.
    public var estimatedWireSize: Int {
        operations.reduce(12) { $0 + $1.estimatedWireSize + 1 }
    }

    /// Reads a call's JSON body, such as the body of a received `BrokerRequest` (a view into
    /// the message: read where it is).
    /// - Throws: `DecodingError` when it is not JSON or not a call (an unknown operation, a
    ///   field of the wrong type, `ops` or a field an operation needs missing).
    public init(wireText text: Substring) throws {
        var text = text
        self = try text.withUTF8 { try NodeCall(reading: $0) }
    }

    /// Reads a call's JSON body. - Throws: as ``init(wireText:)-(Substring)``.
    package init(wireText text: String) throws {
        var text = text
        self = try text.withUTF8 { try NodeCall(reading: $0) }
    }

    /// Reads a call's JSON body from bytes that need not be UTF-8 (they are checked).
    package init(wireBytes bytes: UnsafeRawBufferPointer) throws {
        self = try bytes.withMemoryRebound(to: UInt8.self) { try NodeCall(reading: $0) }
    }

    private init(reading bytes: UnsafeBufferPointer<UInt8>) throws {
        var reader = JSONReader(bytes: bytes)
        var operations: [NodeOperation]?
        try reader.object { reader, key in
            guard key.is("ops") else { return try reader.skipValue() }
            var items: [NodeOperation] = []
            try reader.array { reader in items.append(try NodeOperation(reading: &reader)) }
            operations = items
        }
        guard reader.isAtEnd() else { throw reader.failure("unexpected text after the call") }
        guard let operations else { throw reader.failure("a call without ops") }
        self.init(operations: operations)
    }
}

extension NodeCallReply {
    /// The reply's JSON body: `{"results":[…]}`.
    package func wireText() -> String {
        var out = ""
        out.reserveCapacity(estimatedWireSize)
        write(to: &out)
        return out
    }

    /// Appends the reply's JSON body to `out`, e.g. straight into the message that carries it.
    public func write(to out: inout String) {
        out += #"{"results":["#
        for index in results.indices {
            if index > 0 { out += "," }
            results[index].write(to: &out)
        }
        out += "]}"
    }

    /// About the number of bytes ``write(to:)`` appends, to reserve them at once.
    public var estimatedWireSize: Int {
        results.reduce(16) { $0 + $1.estimatedWireSize + 1 }
    }

    /// Reads a reply's JSON body, such as the body of a received `BrokerReply` (a view into
    /// the message: read where it is).
    /// - Throws: `DecodingError` when it is not JSON or not a reply.
    public init(wireText text: Substring) throws {
        var text = text
        self = try text.withUTF8 { try NodeCallReply(reading: $0) }
    }

    /// Reads a reply's JSON body. - Throws: `DecodingError` when it is not one.
    package init(wireText text: String) throws {
        var text = text
        self = try text.withUTF8 { try NodeCallReply(reading: $0) }
    }

    /// Reads a reply's JSON body from bytes that need not be UTF-8 (they are checked).
    package init(wireBytes bytes: UnsafeRawBufferPointer) throws {
        self = try bytes.withMemoryRebound(to: UInt8.self) { try NodeCallReply(reading: $0) }
    }

    private init(reading bytes: UnsafeBufferPointer<UInt8>) throws {
        var reader = JSONReader(bytes: bytes)
        var results: [OperationResult]?
        try reader.object { reader, key in
            guard key.is("results") else { return try reader.skipValue() }
            var items: [OperationResult] = []
            try reader.array { reader in items.append(try OperationResult(reading: &reader)) }
            results = items
        }
        guard reader.isAtEnd() else { throw reader.failure("unexpected text after the reply") }
        guard let results else { throw reader.failure("a reply without results") }
        self.init(results: results)
    }
}
