import CHiredis
import NIOCore

/// Decodes RESP2 replies with hiredis's reader. The only file that calls into C.
///
/// hiredis keeps its own buffer: bytes are fed as they arrive, in any chunking, and
/// complete replies are pulled one at a time. hiredis limits nesting to 7 levels and
/// rejects unknown type bytes; both, a reply larger than `maximumBufferedBytes` and an
/// array longer than `maximumArrayLength`, become a ``RedisError`` with code
/// `.protocolError`, after which the decoder is unusable (the connection that saw it must
/// be closed).
public struct RESPDecoder {
    private let reader: HiredisReader
    /// The most bytes an unfinished reply may occupy (Redis's own `proto-max-bulk-len` is 512 MiB).
    public let maximumBufferedBytes: Int
    /// The most elements an array may declare. hiredis allocates room for all of them as soon
    /// as it reads the count, and visits every slot when it frees the reply: without a limit
    /// the 13 bytes `*2147483647\r\n` cost 16 GiB of address space and seconds of CPU.
    public var maximumArrayLength: Int { reader.maximumArrayLength }

    public init(maximumBufferedBytes: Int = 512 * 1024 * 1024, maximumArrayLength: Int = 1 << 24) {
        self.reader = HiredisReader(maximumArrayLength: maximumArrayLength)
        self.maximumBufferedBytes = maximumBufferedBytes
    }

    /// Hands bytes to the reader.
    public mutating func feed(_ buffer: ByteBuffer) throws {
        try buffer.withUnsafeReadableBytes { try reader.feed($0) }
        if reader.bufferedBytes > maximumBufferedBytes {
            throw RedisError(.protocolError, "a reply exceeds \(maximumBufferedBytes) bytes")
        }
    }

    /// The next complete reply, or `nil` when more bytes are needed.
    public mutating func next() throws -> RESPValue? {
        try reader.nextReply()
    }

    /// Whether bytes of an unfinished reply are buffered (a close now cuts a reply short).
    public var hasPartialReply: Bool { reader.hasPartialReply }
}

/// Feeds inbound bytes to a ``RESPDecoder`` and passes each reply on.
final class RESPDecodingHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = RESPValue

    private var decoder = RESPDecoder()
    private var failed = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !failed else { return }
        do {
            try decoder.feed(unwrapInboundIn(data))
            while let reply = try decoder.next() {
                context.fireChannelRead(wrapInboundOut(reply))
            }
        } catch {
            failed = true
            context.fireErrorCaught(error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !failed, decoder.hasPartialReply {
            context.fireErrorCaught(RedisError(.connectionClosed, "the server closed the connection in the middle of a reply"))
        }
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension RESPDecodingHandler: Sendable {}

/// Owns one `redisReader`. Used from one event loop only.
final class HiredisReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// The most elements an array may declare.
    let maximumArrayLength: Int
    /// The count of the array refused for being longer, for the error.
    private var refusedArrayLength: Int?

    init(maximumArrayLength: Int) {
        guard let reader = redisReaderCreate() else {
            fatalError("hiredis could not allocate a reader (out of memory)")
        }
        self.reader = reader
        self.maximumArrayLength = maximumArrayLength
        // hiredis hands `privdata` to every reply function: the bounded `createArray` finds its limit there.
        reader.pointee.fn = Self.boundedFunctions
        reader.pointee.privdata = Unmanaged.passUnretained(self).toOpaque()
    }

    /// hiredis's own reply functions.
    private static let defaultFunctions: redisReplyObjectFunctions = {
        guard let scratch = redisReaderCreate() else {
            fatalError("hiredis could not allocate a reader (out of memory)")
        }
        defer { redisReaderFree(scratch) }
        return scratch.pointee.fn.pointee
    }()

    /// hiredis's reply functions, but `createArray` refuses more than the reader's
    /// ``maximumArrayLength`` elements before anything is allocated (hiredis then fails
    /// the reply; ``readerError()`` says why).
    nonisolated(unsafe) private static let boundedFunctions: UnsafeMutablePointer<redisReplyObjectFunctions> = {
        var functions = defaultFunctions
        functions.createArray = { task, elements in
            if let owner = task?.pointee.privdata {
                let reader = Unmanaged<HiredisReader>.fromOpaque(owner).takeUnretainedValue()
                guard Int(elements) <= reader.maximumArrayLength else {
                    reader.refusedArrayLength = Int(elements)
                    return nil
                }
            }
            return HiredisReader.defaultFunctions.createArray(task, elements)
        }
        let pointer = UnsafeMutablePointer<redisReplyObjectFunctions>.allocate(capacity: 1)
        pointer.initialize(to: functions)
        return pointer
    }()

    deinit {
        redisReaderFree(reader)
    }

    /// Bytes fed but not yet turned into replies.
    var bufferedBytes: Int { reader.pointee.len - reader.pointee.pos }

    /// Whether bytes of an unfinished reply are buffered.
    var hasPartialReply: Bool {
        // After a reply hiredis may sit at `ridx == 0` with an untyped root task: that is idle.
        let state = reader.pointee
        return state.pos < state.len || state.ridx > 0 || (state.ridx == 0 && state.rstack.0.type != -1)
    }

    func feed(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        if redisReaderFeed(reader, base.assumingMemoryBound(to: CChar.self), bytes.count) != REDIS_OK {
            throw readerError()
        }
    }

    func nextReply() throws -> RESPValue? {
        var raw: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &raw) == REDIS_OK else {
            throw readerError()
        }
        guard let raw else { return nil }
        defer { freeReplyObject(raw) }
        let reply = raw.assumingMemoryBound(to: redisReply.self)
        // Every bulk string of the reply is copied into this one buffer, then handed out as a
        // slice of it: one allocation per reply instead of two per string. All bytes are
        // written before the first slice is taken, so the writes never copy the buffer.
        let bulkBytes = Self.bulkBytes(in: reply)
        // Integer, status and nil replies carry no bytes: they need no arena at all.
        var arena = bulkBytes == 0 ? Self.emptyArena : ByteBufferAllocator().buffer(capacity: bulkBytes)
        if bulkBytes > 0 { Self.copyBulkStrings(of: reply, into: &arena) }
        var offset = arena.readerIndex
        return Self.value(of: reply, arena: arena, offset: &offset)
    }

    private static let emptyArena = ByteBuffer()

    /// Writes the bytes of all bulk strings in `reply` to `arena`, depth first.
    private static func copyBulkStrings(of reply: UnsafeMutablePointer<redisReply>, into arena: inout ByteBuffer) {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            arena.writeBytes(UnsafeRawBufferPointer(start: node.str, count: node.len))
        case REDIS_REPLY_ARRAY:
            for index in 0..<node.elements {
                if let child = node.element[index] { copyBulkStrings(of: child, into: &arena) }
            }
        default:
            break
        }
    }

    /// The bytes of all bulk strings in `reply`, nested ones included.
    private static func bulkBytes(in reply: UnsafeMutablePointer<redisReply>) -> Int {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            return node.len
        case REDIS_REPLY_ARRAY:
            var total = 0
            for index in 0..<node.elements {
                if let child = node.element[index] { total += bulkBytes(in: child) }
            }
            return total
        default:
            return 0
        }
    }

    private func readerError() -> RedisError {
        if let refusedArrayLength {
            return RedisError(.protocolError, "unparseable reply: an array of \(refusedArrayLength) elements, more than the limit of \(maximumArrayLength)")
        }
        let detail = withUnsafeBytes(of: reader.pointee.errstr) { bytes in
            String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        }
        return RedisError(.protocolError, "unparseable reply: \(detail)")
    }

    /// The value of `reply`, its bulk strings sliced from `arena` in the order
    /// ``copyBulkStrings(of:into:)`` wrote them, from `offset` on.
    private static func value(of reply: UnsafeMutablePointer<redisReply>, arena: ByteBuffer, offset: inout Int) -> RESPValue {
        let node = reply.pointee
        switch node.type {
        case REDIS_REPLY_STRING:
            let slice = arena.getSlice(at: offset, length: node.len)!
            offset += node.len
            return .bulkString(slice)
        case REDIS_REPLY_STATUS:
            return .simpleString(text(node))
        case REDIS_REPLY_ERROR:
            return .error(text(node))
        case REDIS_REPLY_INTEGER:
            return .integer(Int64(node.integer))
        case REDIS_REPLY_ARRAY:
            var elements: [RESPValue] = []
            elements.reserveCapacity(node.elements)
            for index in 0..<node.elements {
                if let child = node.element[index] {
                    elements.append(value(of: child, arena: arena, offset: &offset))
                } else {
                    elements.append(.null)
                }
            }
            return .array(elements)
        default:
            return .null
        }
    }

    private static func text(_ node: redisReply) -> String {
        String(decoding: UnsafeRawBufferPointer(start: node.str, count: node.len), as: UTF8.self)
    }
}
