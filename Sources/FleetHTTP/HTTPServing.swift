import Hummingbird
import Logging
import ServiceLifecycle

/// Runs a Hummingbird application until the calling task is cancelled, then shuts it down
/// gracefully: the listener closes, requests in flight finish, WebSockets get a close frame.
/// (The server runs in a task of its own so that the caller's cancellation reaches it only as
/// that graceful shutdown, not as an abrupt cancellation of every connection.)
public func runUntilCancelled(_ application: some ApplicationProtocol & Sendable, logger: Logger) async throws {
    let group = ServiceGroup(configuration: .init(services: [application], logger: logger))
    let server = Task { try await group.run() }
    try await withTaskCancellationHandler {
        try await server.value
    } onCancel: {
        Task { await group.triggerGracefulShutdown() }
    }
}

/// Hummingbird logs every request at info: its own logger stays at notice or above.
public func frameworkLogger(_ logger: Logger) -> Logger {
    var framework = logger
    framework.logLevel = max(logger.logLevel, .notice)
    return framework
}
