import NIOCore

/// Runs a task's jobs on one NIO event loop.
///
/// A task that prefers it (`withTaskExecutorPreference(client.taskExecutor) { … }` or
/// `group.addTask(executorPreference: client.taskExecutor)`) and talks to a ``RedisClient``
/// pinned to the same loop writes its commands, reads their replies and resumes without
/// changing threads — two thread wake-ups fewer per round trip. Use it for hot loops that
/// issue many commands one after the other; the jobs must not block the loop.
public final class EventLoopTaskExecutor: TaskExecutor {
    /// The loop the jobs run on.
    public let eventLoop: any EventLoop

    public init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
