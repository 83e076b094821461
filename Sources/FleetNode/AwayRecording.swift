/// A message recorded for an away session: the `sequence`-th since it went away. The hub
/// hands these, in order, to whoever writes the sessions' mailboxes (``MailboxWriter``).
public struct AwayRecording: Sendable, Hashable {
    package var token: String
    package var sequence: Int
    /// The message's text: the same string for every session it is recorded for (no copy).
    package var message: String
    package var messageID: String?
    /// Older entries of the mailbox to delete (past `REPLAY_MAX` or `REPLAY_MAX_BYTES`).
    package var dropped: [Int] = []

    package init(token: String, sequence: Int, message: String, messageID: String?, dropped: [Int] = []) {
        self.token = token
        self.sequence = sequence
        self.message = message
        self.messageID = messageID
        self.dropped = dropped
    }
}
