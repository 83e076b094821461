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

/// Hummingbird logs every request at info: its own logger stays at notice or above. An
/// upgrade the node refused on purpose (401, 503 while draining), or that its client
/// abandoned, makes HummingbirdWebSocket log `Error handling upgrade result` at error level;
/// that one is logged at debug.
public func frameworkLogger(_ logger: Logger) -> Logger {
    var framework = Logger(label: logger.label) { _ in FrameworkLogHandler(base: logger.handler) }
    framework.logLevel = max(logger.logLevel, .notice)
    return framework
}

/// Forwards to `base`, with the framework's benign errors lowered to debug.
struct FrameworkLogHandler: LogHandler {
    var base: any LogHandler
    static let benign: Set<String> = ["Error handling upgrade result"]

    var logLevel: Logger.Level {
        get { base.logLevel }
        set { base.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { base.metadata }
        set { base.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { base[metadataKey: key] }
        set { base[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        var event = event
        if event.level >= .error, Self.benign.contains(event.message.description) {
            guard base.logLevel <= .debug else { return }
            event.level = .debug
        }
        base.log(event: event)
    }
}
