/// Decides when a peer that does not read is cut off, from the channel's writability rather
/// than a promise per write: while the channel is writable nothing is counted; once it is
/// not, the messages and bytes written since are, and passing either limit means cut; writable
/// again starts over.
struct SlowConsumerPolicy: Sendable, Equatable {
    enum Action: Equatable {
        case none
        /// Close TCP now: a peer that does not read will not read a close frame either.
        case cut
    }

    private(set) var isWritable = true
    private(set) var queuedMessages = 0
    private(set) var queuedBytes = 0

    /// The channel's writability changed.
    mutating func writabilityChanged(isWritable: Bool) {
        self.isWritable = isWritable
        self.queuedMessages = 0
        self.queuedBytes = 0
    }

    /// A message of `bytes` bytes was written.
    mutating func wrote(bytes: Int, maxMessages: Int, maxBytes: Int) -> Action {
        guard !self.isWritable else { return .none }
        self.queuedMessages += 1
        self.queuedBytes += bytes
        return self.queuedMessages > maxMessages || self.queuedBytes > maxBytes ? .cut : .none
    }
}
