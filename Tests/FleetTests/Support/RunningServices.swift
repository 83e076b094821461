import Logging
import ServiceLifecycle

/// Services running in a `ServiceGroup` of their own, as `wscenter` runs a role's services
/// (without its signal handling, its watchdog and its broker): a node or a gateway in
/// process, stopped as SIGTERM stops it or cancelled.
final class RunningServices: Sendable {
    private let group: ServiceGroup
    private let task: Task<Void, any Error>

    init(_ services: [any Service], logger: Logger) {
        let group = ServiceGroup(configuration: ServiceGroupConfiguration(services: services, logger: logger))
        self.group = group
        self.task = Task { try await group.run() }
    }

    /// Shuts the group down gracefully, services in reverse order, and waits until it has.
    func stop() async {
        await group.triggerGracefulShutdown()
        _ = await task.result
    }

    /// Cancels the group: every service stops at once. Does not wait.
    func cancel() {
        task.cancel()
    }

    /// Waits until the group has stopped; its error, if it failed.
    func result() async -> Result<Void, any Error> {
        await task.result
    }
}
