import NIOCore
import NIOWebSocket

extension ServerWebSocket {
    /// The socket's one timer: the keep-alive tick while open, the close timeout after our
    /// close frame. A scheduled callback rather than a task: no promise or closure per arm.
    struct Timer: NIOScheduledCallbackHandler, Sendable {
        let socket: ServerWebSocket
        let generation: UInt32

        func handleScheduledCallback(eventLoop: some EventLoop) {
            self.socket.timerFired(generation: self.generation)
        }
    }

    /// Replaces the pending timer with one firing after `delay`.
    func arm(in delay: TimeAmount) {
        self.disarm()
        self.timer = try? self.eventLoop.scheduleCallback(
            in: delay,
            handler: Timer(socket: self, generation: self.timerGeneration)
        )
    }

    /// Cancels the pending timer, if any.
    func disarm() {
        self.timerGeneration &+= 1
        self.timer?.cancel()
        self.timer = nil
    }

    func timerFired(generation: UInt32) {
        guard generation == self.timerGeneration, let context = self.context else { return }
        self.timer = nil
        switch self.state.timerFired(pingInterval: self.options.pingInterval) {
        case .none:
            break
        case .ping:
            self.writeFrame(WebSocketFrames.encode(context.channel.allocator.buffer(capacity: 0), opcode: .ping, allocator: context.channel.allocator))
            context.flush()
            if let interval = self.options.pingInterval, self.timer == nil, !self.state.isClosing {
                self.arm(in: interval)
            }
        case .abandon(let code, let reason):
            let close = WebSocketFrames.close(code: code, reason: reason, allocator: context.channel.allocator)
            context.writeAndFlush(Self.wrapOutboundOut(close)).whenComplete { _ in context.close(promise: nil) }
        case .closeConnection:
            context.close(promise: nil)
        }
    }
}
