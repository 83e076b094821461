import Testing

/// Waits until `condition` holds, checking every 20 ms (an error counts as "not yet"); after
/// `timeout` it checks once more, and if that fails too records an issue at the caller's
/// line and throws. One definition for every test target: wait on a condition, never sleep.
package func eventually(
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
package struct EventuallyTimeout: Error, CustomStringConvertible {
    package let what: String
    package let timeout: Duration
    package var description: String { "not within \(timeout): \(what)" }
}
