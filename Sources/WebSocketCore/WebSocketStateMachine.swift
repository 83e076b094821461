import NIOCore
import NIOWebSocket

/// The protocol side of one server WebSocket (RFC 6455), without I/O: frames, the close
/// handshake and keep-alive go in as events, what to write or close comes out as actions
/// that ``ServerWebSocket`` performs. Time is passed in.
struct WebSocketStateMachine {
    enum Phase: Equatable {
        /// Frames flow both ways.
        case open
        /// We sent a close frame and wait for the peer's.
        case closeSent
        /// Nothing more is read or written: the peer's close was answered, TCP is closing or gone.
        case closed
    }

    /// What to do about a frame that arrived.
    enum FrameAction: Equatable {
        case none
        /// Hand a complete message to the delegate.
        case deliver(ByteBuffer, isText: Bool)
        /// Answer a ping.
        case pong(ByteBuffer)
        /// Send a close frame with this code and reason, flush, and wait for the peer's close.
        case fail(WebSocketErrorCode, reason: String)
        /// Answer the peer's close (echoing its code; an empty close if it sent none), then
        /// close TCP once that is flushed.
        case answerClose(code: UInt16?)
        /// The peer answered our close: close TCP.
        case closeConnection
    }

    /// What to do when the timer fires.
    enum TimerAction: Equatable {
        case none
        /// Send a keep-alive ping and arm the timer again.
        case ping
        /// The peer stopped answering: send a close frame and close TCP once it is written
        /// (a peer that answers no ping will not answer a close either).
        case abandon(WebSocketErrorCode, reason: String)
        /// The close timeout passed: close TCP.
        case closeConnection
    }

    private(set) var phase: Phase = .open
    /// The message being assembled from fragments; nil between messages.
    private var message: ByteBuffer?
    private var messageIsText = false
    private var utf8 = UTF8Validator()
    /// A keep-alive ping went out and no pong came since.
    private(set) var awaitingPong = false
    private var limiter: ControlFrameLimiter

    /// A new socket; its ping budget starts full.
    init(options: WebSocketOptions) {
        // A bucket refilled "at boot" is full at the first frame, whatever the clock.
        self.limiter = ControlFrameLimiter(rate: options.controlFramesPerSecond, now: .uptimeNanoseconds(0))
    }

    /// Whether a close frame was sent or received, or the connection is gone.
    var isClosing: Bool { self.phase != .open }

    // MARK: Frames

    /// A frame arrived from the decoder.
    mutating func frameReceived(_ frame: WebSocketFrame, options: WebSocketOptions, now: NIODeadline) -> FrameAction {
        switch self.phase {
        case .open:
            break
        case .closeSent:
            // Only the peer's close matters now; data and pings are ignored.
            if frame.opcode == .connectionClose {
                self.phase = .closed
                return .closeConnection
            }
            return .none
        case .closed:
            return .none
        }

        guard let maskKey = frame.maskKey else { return self.fail(.protocolError, "frame not masked") }
        guard frame.reservedBits.isEmpty else { return self.fail(.protocolError, "reserved bits set") }

        switch frame.opcode {
        case .text, .binary:
            guard self.message == nil else { return self.fail(.protocolError, "new message inside a fragmented one") }
            self.messageIsText = frame.opcode == .text
            return self.append(frame, maskKey: maskKey, options: options)
        case .continuation:
            guard self.message != nil else { return self.fail(.protocolError, "continuation without a message") }
            return self.append(frame, maskKey: maskKey, options: options)
        case .ping, .pong, .connectionClose:
            guard frame.fin, frame.length <= 125 else { return self.fail(.protocolError, "invalid control frame") }
            return self.control(frame, options: options, now: now)
        default:
            return self.fail(.protocolError, "unknown opcode")
        }
    }

    /// Adds a data frame to the message; delivers the message at its last frame.
    private mutating func append(_ frame: WebSocketFrame, maskKey: WebSocketMaskingKey, options: WebSocketOptions) -> FrameAction {
        let soFar = self.message?.readableBytes ?? 0
        guard frame.length <= options.maxMessageSize - soFar else { return self.fail(.messageTooLarge, "message too big") }

        var message: ByteBuffer
        let start: Int
        if let existing = self.message {
            message = existing
            self.message = nil  // keep the buffer uniquely referenced while it grows
            start = message.writerIndex
            message.writeImmutableBuffer(frame.data)
        } else {
            message = frame.data
            start = message.readerIndex
        }
        message.unmask(maskKey, from: start)

        if self.messageIsText, options.validateUTF8 {
            let valid = message.withUnsafeReadableBytes { bytes in
                self.utf8.feed(UnsafeRawBufferPointer(rebasing: bytes[(start - message.readerIndex)...]))
            }
            guard valid, !frame.fin || self.utf8.isComplete else {
                return self.fail(.dataInconsistentWithMessage, "invalid UTF-8")
            }
        }

        guard frame.fin else {
            self.message = message
            return .none
        }
        self.utf8 = UTF8Validator()
        return .deliver(message, isText: self.messageIsText)
    }

    private mutating func control(_ frame: WebSocketFrame, options: WebSocketOptions, now: NIODeadline) -> FrameAction {
        if frame.opcode == .connectionClose {
            return self.peerClosed(frame.unmaskedData, options: options)
        }
        if frame.opcode == .pong {
            // Any pong shows the peer is alive, even one over the budget.
            self.awaitingPong = false
        }
        switch self.limiter.frameArrived(rate: options.controlFramesPerSecond, now: now) {
        case .allow:
            return frame.opcode == .ping ? .pong(frame.unmaskedData) : .none
        case .drop:
            return .none
        case .close:
            return self.fail(.policyViolation, "too many ping frames")
        }
    }

    private mutating func peerClosed(_ payload: ByteBuffer, options: WebSocketOptions) -> FrameAction {
        var payload = payload
        guard payload.readableBytes > 0 else {
            self.closed()
            return .answerClose(code: nil)
        }
        guard let code = payload.readInteger(as: UInt16.self) else { return self.fail(.protocolError, "close payload of 1 byte") }
        guard WebSocketCloseCode.isAllowedOnWire(code) else { return self.fail(.protocolError, "invalid close code") }
        if options.validateUTF8 {
            var validator = UTF8Validator()
            let valid = payload.withUnsafeReadableBytes { validator.feed($0) }
            guard valid, validator.isComplete else { return self.fail(.dataInconsistentWithMessage, "invalid UTF-8 in close reason") }
        }
        self.closed()
        return .answerClose(code: code)
    }

    private mutating func fail(_ code: WebSocketErrorCode, _ reason: String) -> FrameAction {
        self.phase = .closeSent
        self.dropMessage()
        return .fail(code, reason: reason)
    }

    // MARK: Other events

    /// The frame decoder failed. Returns the code to close with, or nil when closing already.
    mutating func decoderFailed(_ error: NIOWebSocketError) -> WebSocketErrorCode? {
        guard self.phase == .open else { return nil }
        self.phase = .closeSent
        self.dropMessage()
        switch error {
        case .invalidFrameLength: return .messageTooLarge
        case .fragmentedControlFrame, .multiByteControlFrameLength: return .protocolError
        }
    }

    /// We want to close. Returns whether to send a close frame (only the first close does).
    mutating func closeRequested() -> Bool {
        guard self.phase == .open else { return false }
        self.phase = .closeSent
        self.dropMessage()
        return true
    }

    /// The timer fired: a keep-alive tick while open, the close timeout after our close.
    mutating func timerFired(pingInterval: TimeAmount?) -> TimerAction {
        switch self.phase {
        case .open:
            guard pingInterval != nil else { return .none }
            if self.awaitingPong {
                self.phase = .closed
                self.dropMessage()
                return .abandon(.goingAway, reason: "ping timeout")
            }
            self.awaitingPong = true
            return .ping
        case .closeSent:
            self.phase = .closed
            return .closeConnection
        case .closed:
            return .none
        }
    }

    /// TCP is closing or gone.
    mutating func closed() {
        self.phase = .closed
        self.dropMessage()
    }

    private mutating func dropMessage() {
        self.message = nil
        self.utf8 = UTF8Validator()
    }
}

extension ByteBuffer {
    /// Unmasks the readable bytes from `index` on, the first of them being the first byte of
    /// a frame's payload.
    fileprivate mutating func unmask(_ key: WebSocketMaskingKey, from index: Int) {
        let offset = index - self.readerIndex
        self.withUnsafeMutableReadableBytes { bytes in
            var position = 0
            for byteIndex in offset..<bytes.count {
                bytes[byteIndex] ^= key[position & 3]
                position &+= 1
            }
        }
    }
}
