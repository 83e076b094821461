import Testing

/// Waits until `condition` holds, checking every 20 ms (an error counts as "not yet"); after
/// `timeout` it checks once more, and if that fails too records an issue at the caller's
/// line and throws. One definition for every test target: wait on a condition, never sleep.
public func eventually(
    within timeout: Duration = .seconds(5),
    _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    if try await condition() { return }
    Issue.record("not within \(timeout): \(what)", sourceLocation: sourceLocation)
    throw EventuallyTimeout(what: what, timeout: timeout)
}

/// What ``eventually(within:_:sourceLocation:_:)`` throws when its condition never held.
public struct EventuallyTimeout: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public var description: String { "not within \(timeout): \(what)" }
}
