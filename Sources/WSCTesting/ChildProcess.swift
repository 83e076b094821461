import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn`, reaped with `waitpid`.
///
/// Not Foundation's `Process`: the child must start with no blocked signals (a test
/// runner's threads block some, a spawned child inherits that mask, and a
/// `redis-server` with SIGTERM blocked ignores ``RedisServerProcess/stop()``), with
/// default signal handlers, and without the test process's file descriptors.
final class ChildProcess: @unchecked Sendable {
    /// The child's process id.
    let pid: pid_t
    private let lock = NSLock()
    private var status: Int32?  // the raw `waitpid` status once reaped; guarded by `lock`

    private init(pid: pid_t) {
        self.pid = pid
    }

    /// Starts `executable` with `arguments`, stdin from /dev/null, and stdout and stderr
    /// appended to `outputPath`.
    /// - Returns: the running child.
    /// - Throws: ``WSCTestingError`` with code `systemCallFailed` if it cannot be started.
    /// - Parameter removing: environment variables the child does not inherit. Nor does it
    ///   inherit `REDIS_CLUSTER_NODES` (the cluster the test process's own tests use, beside
    ///   `REDIS_URL`; `wscenter` refuses both at once): a child for the cluster gets it in `adding`.
    /// - Parameter adding: environment variables set for the child (after `removing`).
    static func spawn(
        executable: String, arguments: [String], outputPath: String, removing: Set<String> = [], adding: [String: String] = [:]
    ) throws -> ChildProcess {
        #if canImport(Darwin)
        var actions: posix_spawn_file_actions_t? = nil
        var attributes: posix_spawnattr_t? = nil
        #else
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        #endif
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outputPath, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)

        var flags = Int32(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        #if canImport(Darwin)
        flags |= Int32(POSIX_SPAWN_CLOEXEC_DEFAULT)  // close every descriptor not set up above
        #else
        closeInheritedDescriptors(&actions)
        #endif
        posix_spawnattr_setflags(&attributes, Int16(flags))
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaultSignals = sigset_t()
        sigemptyset(&defaultSignals)
        for signal in [SIGHUP, SIGINT, SIGQUIT, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaultSignals, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaultSignals)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid = pid_t()
        let inherited = ProcessInfo.processInfo.environment
            .filter { !removing.contains($0.key) && $0.key != "REDIS_CLUSTER_NODES" }
            .merging(adding) { $1 }
        let environment = inherited.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { environment.forEach { free($0) } }
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, environment)
        guard result == 0 else {
            let reason = String(cString: strerror(result))
            throw WSCTestingError(.systemCallFailed, "cannot start \(executable): \(reason)")
        }
        return ChildProcess(pid: pid)
    }

    /// Whether the child has not exited yet (reaps it if it has).
    var isRunning: Bool {
        lock.withLock {
            guard status == nil else { return false }
            var raw: Int32 = 0
            let result = waitpid(pid, &raw, WNOHANG)
            if result == pid {
                status = raw
            } else if result == -1 && errno != EINTR {
                status = -1  // ECHILD: reaped elsewhere, status unknown
            }
            return status == nil
        }
    }

    /// Its exit status, or 128 + the signal that ended it (as a shell reports it); nil while
    /// it runs.
    var exitStatus: Int32? {
        guard !isRunning, let raw = lock.withLock({ status }) else { return nil }
        if raw == -1 { return -1 }
        let signal = raw & 0x7F
        return signal == 0 ? (raw >> 8) & 0xFF : 128 + signal
    }

    /// How the child ended, e.g. "exit status 1" or "signal 9"; nil while it runs.
    var termination: String? {
        guard !isRunning, let raw = lock.withLock({ status }) else { return nil }
        if raw == -1 { return "unknown status" }
        let signal = raw & 0x7F
        return signal == 0 ? "exit status \((raw >> 8) & 0xFF)" : "signal \(signal)"
    }

    /// Sends `signal` to the child unless it has been reaped.
    func send(_ signal: Int32) {
        if isRunning { _ = kill(pid, signal) }
    }

    /// Blocks until the child has exited.
    func waitUntilExit() {
        while isRunning { usleep(2_000) }
    }

    #if !canImport(Darwin)
    /// Closes descriptors 3 and up in the child: glibc 2.34+ has
    /// `posix_spawn_file_actions_addclosefrom_np` (looked up at run time, since Swift does
    /// not import it); without it, closes the ones open now.
    private static func closeInheritedDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        typealias CloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        if let symbol = dlsym(dlopen(nil, RTLD_NOW), "posix_spawn_file_actions_addclosefrom_np") {
            _ = unsafeBitCast(symbol, to: CloseFrom.self)(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int32($0) } ?? []
        for descriptor in open where descriptor > 2 && fcntl(descriptor, F_GETFD) != -1 {
            posix_spawn_file_actions_addclose(&actions, descriptor)
        }
    }
    #endif
}
