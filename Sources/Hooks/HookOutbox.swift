import BrokerCore
import FleetCore
import Foundation
import Logging
import Metrics
import Observability
import Synchronization

/// Where a node's webhook events go: the queue in the broker, or, while the broker cannot take
/// them, a bounded local spool (a file, fsync'd) that is re-queued in order once it can.
///
/// While anything is spooled, new events are spooled behind it, so that a source's events
/// reach the queue in the order they happened. A full spool drops new events, counted in
/// `wscenter_webhook_events_dropped_total`; `wscenter_webhook_spool_events` says how full it is.
package final class HookOutbox: Sendable {
    private struct State {
        /// In order; the file holds the same lines.
        var spooled: [(source: HookSource, event: HookEvent)] = []
        var loaded = false
    }

    private let queue: HookQueue
    private let file: String?
    private let capacity: Int
    private let logger: Logger
    private let state = Mutex(State())
    /// Serialises appends and rewrites of the file.
    private let fileLock = Mutex(())
    private let spoolSize: Gauge
    private let dropped: Counter
    private let wake: AsyncStream<Void>.Continuation
    private let wakeups: AsyncStream<Void>

    /// - Parameters:
    ///   - file: the spool's path; nil keeps the spool in memory only (lost with the process).
    ///   - capacity: the most events spooled (`WEBHOOK_SPOOL_MAX`).
    package init(queue: HookQueue, file: String?, capacity: Int = 10_000, telemetry: Telemetry, logger: Logger) {
        self.queue = queue
        self.file = file
        self.capacity = capacity
        self.logger = logger
        spoolSize = Gauge(label: MetricName.webhookSpoolEvents, factory: telemetry.factory)
        dropped = Counter(label: MetricName.webhookEventsDropped, factory: telemetry.factory)
        (wakeups, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    /// Queues `events`, or spools them when the broker cannot take them now (or while
    /// earlier ones wait in the spool). Never throws: a full spool drops them, counted.
    package func send(_ events: [HookEvent], from source: HookSource) async {
        guard !events.isEmpty else { return }
        if state.withLock({ $0.spooled.isEmpty && $0.loaded }) {
            do {
                try await queue.enqueue(events, from: source)
                return
            } catch {
                logger.warning("webhook events spooled: the broker cannot take them now", metadata: ["error": "\(error)"])
            }
        }
        spool(events.map { (source, $0) })
        wake.yield()
    }

    /// How many events wait in the spool.
    package var spooledCount: Int { state.withLock { $0.spooled.count } }

    /// Loads what an earlier process left in the spool file, then re-queues the spool, in
    /// order, whenever it holds something and the broker takes it, until cancelled.
    package func run() async {
        load()
        wake.yield()
        for await _ in wakeups {
            while !Task.isCancelled {
                let head = state.withLock { Array($0.spooled.prefix(100)) }
                guard let first = head.first else { break }
                let batch = head.prefix { $0.source == first.source }
                do {
                    try await queue.enqueue(batch.map(\.event), from: first.source)
                } catch {
                    try? await Task.sleep(for: .seconds(1))
                    continue
                }
                let left = state.withLock { state in
                    state.spooled.removeFirst(batch.count)
                    return state.spooled
                }
                rewrite(left)
                spoolSize.record(left.count)
                if left.isEmpty { logger.notice("the webhook spool is re-queued") }
            }
        }
    }

    // MARK: The file

    private func spool(_ items: [(source: HookSource, event: HookEvent)]) {
        let kept = state.withLock { state -> [(source: HookSource, event: HookEvent)] in
            let room = max(0, capacity - state.spooled.count)
            let kept = Array(items.prefix(room))
            state.spooled += kept
            return kept
        }
        if kept.count < items.count {
            dropped.increment(by: items.count - kept.count)
            logger.error("webhook spool full: events dropped", metadata: ["dropped": "\(items.count - kept.count)", "capacity": "\(capacity)"])
        }
        spoolSize.record(spooledCount)
        guard !kept.isEmpty, let file else { return }
        fileLock.withLock { _ in
            Self.store(kept.map(Self.line).joined(), to: file, append: true, logger: logger)
        }
    }

    private func rewrite(_ items: [(source: HookSource, event: HookEvent)]) {
        guard let file else { return }
        fileLock.withLock { _ in
            Self.store(items.map(Self.line).joined(), to: file, append: false, logger: logger)
        }
    }

    private func load() {
        defer { state.withLock { $0.loaded = true } }
        guard let file, let data = FileManager.default.contents(atPath: file), !data.isEmpty else { return }
        var items: [(source: HookSource, event: HookEvent)] = []
        for line in data.split(separator: UInt8(ascii: "\n")) {
            if let item = Self.item(Array(line)) { items.append(item) }
        }
        state.withLock { state in
            state.spooled = Array(items.prefix(capacity)) + state.spooled
        }
        spoolSize.record(spooledCount)
        logger.notice("webhook events found in the spool; re-queueing them", metadata: ["events": "\(items.count)", "file": "\(file)"])
    }

    /// One event as a line of JSON: `{"s":source,"i":…,"t":…,"n":…,"c":…,"e":…}`.
    package static func line(_ item: (source: HookSource, event: HookEvent)) -> String {
        var object: [String: JSONValue] = [
            "s": .string(item.source.description), "i": .string(item.event.id), "t": .number(String(item.event.timeMs)),
            "n": .string(item.event.name), "e": .string(item.event.json),
        ]
        if let channel = item.event.channel { object["c"] = .string(channel) }
        var out = ""
        JSONValue.object(object).write(to: &out)
        return out + "\n"
    }

    static func item(_ line: [UInt8]) -> (source: HookSource, event: HookEvent)? {
        guard case .object(let object)? = try? JSONValue(parsing: line),
            case .string(let source)? = object["s"], case .string(let id)? = object["i"],
            case .number(let time)? = object["t"], let timeMs = Int64(time),
            case .string(let name)? = object["n"], case .string(let json)? = object["e"]
        else { return nil }
        let channel: String? = if case .string(let channel)? = object["c"] { channel } else { nil }
        let parsed: HookSource
        if source == "native" {
            parsed = .native
        } else if source.hasPrefix("pusher:") {
            parsed = .pusher(appID: String(source.dropFirst("pusher:".count)))
        } else {
            return nil
        }
        return (parsed, HookEvent(id: id, timeMs: timeMs, name: name, channel: channel, json: json))
    }

    /// Writes `text` and fsyncs it.
    private static func store(_ text: String, to path: String, append: Bool, logger: Logger) {
        let descriptor = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0o600)
        guard descriptor >= 0 else {
            logger.error("cannot write the webhook spool file", metadata: ["file": "\(path)", "errno": "\(errno)"])
            return
        }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            guard written > 0 else {
                logger.error("cannot write the webhook spool file", metadata: ["file": "\(path)", "errno": "\(errno)"])
                return
            }
            offset += written
        }
        fsync(descriptor)
    }
}
