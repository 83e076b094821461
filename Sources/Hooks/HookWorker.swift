import AsyncHTTPClient
import BrokerCore
import FleetCore
import Logging
import NIOCore
import NIOHTTP1
import ServiceLifecycle

/// How a worker reads, delivers and retries.
package struct HookWorkerConfiguration: Sendable {
    /// This worker's name in the consumer group: unique per process.
    package var consumer: String
    /// How long an event is retried after it happened (`WEBHOOK_RETRY_FOR`); then it goes
    /// to the dead letters.
    package var retryFor: Duration = .seconds(300)
    /// Pending events nobody touched for this long are taken over (their worker died). A
    /// worker that is still retrying touches its events at half this interval.
    package var claimAfter: Duration = .seconds(10)
    /// The most events read, and sent in one request, at a time.
    package var batchSize = 100
    /// How long an idle worker waits before it looks at its streams again.
    package var pollInterval: Duration = .milliseconds(200)
    /// The longest wait for a receiver's answer.
    package var requestTimeout: Duration = .seconds(10)
    /// The first wait before a retry; it doubles up to ``maxBackoff``, with jitter.
    package var initialBackoff: Duration = .milliseconds(500)
    package var maxBackoff: Duration = .seconds(30)

    package init(consumer: String) {
        self.consumer = consumer
    }
}

/// Delivers the webhook events of its sources: reads each source's stream through the
/// consumer group (taking over what dead workers left pending), sends each endpoint the
/// events it wants in one signed request, retries failures with capped exponential backoff
/// and jitter until `retryFor` after the event, then moves what could not be delivered to the
/// source's dead-letter stream. Each source is served by its own task, so a slow receiver
/// holds up only its own source; the endpoints of one source are served concurrently.
package final class HookWorker: Service {
    private let broker: any Broker
    private let keys: HookKeys
    private let sources: [HookSource: [WebhookEndpoint]]
    private let configuration: HookWorkerConfiguration
    private let meter: HookMeter
    private let logger: Logger

    package init(
        broker: any Broker, keys: HookKeys, sources: [HookSource: [WebhookEndpoint]], configuration: HookWorkerConfiguration,
        meter: HookMeter, logger: Logger
    ) {
        self.broker = broker
        self.keys = keys
        self.sources = sources.filter { !$0.value.isEmpty }
        self.configuration = configuration
        self.meter = meter
        self.logger = logger
    }

    package func run() async throws {
        var clientConfiguration = HTTPClient.Configuration()
        clientConfiguration.redirectConfiguration = .disallow
        clientConfiguration.timeout = .init(connect: .seconds(5), read: .init(configuration.requestTimeout))
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: clientConfiguration)
        // A graceful shutdown cancels the deliveries in flight: their events stay pending, and
        // another worker takes them over (delivery is at least once).
        try? await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for (source, endpoints) in self.sources {
                    group.addTask { await self.serve(source, endpoints: endpoints, client: client) }
                }
            }
        }
        try? await client.shutdown()
    }

    // MARK: A source

    private func serve(_ source: HookSource, endpoints: [WebhookEndpoint], client: HTTPClient) async {
        let queue = keys.queue(source)
        let group = HookKeys.group
        var logger = logger
        logger[metadataKey: "source"] = "\(source)"
        while !Task.isCancelled {
            do {
                _ = try await broker.streamCreateGroup(queue, group: group)
                break
            } catch {
                logger.warning("cannot create the webhook consumer group; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
        while !Task.isCancelled {
            let entries: [BrokerStreamEntry]
            do {
                // What a dead worker left first, then what is new.
                let orphans = try await broker.streamAutoClaim(
                    queue, group: group, consumer: configuration.consumer, minIdle: configuration.claimAfter, count: configuration.batchSize
                )
                entries = orphans.isEmpty
                    ? try await broker.streamReadGroup(queue, group: group, consumer: configuration.consumer, count: configuration.batchSize)
                    : orphans
            } catch {
                logger.warning("cannot read the webhook queue", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
                continue
            }
            guard !entries.isEmpty else {
                try? await Task.sleep(for: configuration.pollInterval)
                continue
            }
            await deliver(entries, of: source, to: endpoints, client: client, logger: logger)
        }
    }

    /// Delivers one batch to every endpoint that wants some of it, then acknowledges it.
    private func deliver(
        _ entries: [BrokerStreamEntry], of source: HookSource, to endpoints: [WebhookEndpoint], client: HTTPClient, logger: Logger
    ) async {
        var events: [HookEvent] = []
        for entry in entries {
            if let event = HookEvent(streamFields: entry.fields) {
                events.append(event)
            } else {
                logger.warning("dropped a malformed webhook queue entry", metadata: ["id": "\(entry.id)"])
            }
        }
        let ids = entries.map(\.id)
        await withDiscardingTaskGroup { group in
            for endpoint in endpoints {
                let selected = events.filter(endpoint.accepts)
                guard !selected.isEmpty else { continue }
                group.addTask {
                    await self.deliver(selected, of: source, to: endpoint, holding: ids, client: client, logger: logger)
                }
            }
        }
        // Cancelled (shutting down) before every endpoint had its answer: the batch stays
        // pending, and another worker takes it over.
        guard !Task.isCancelled else { return }
        do {
            _ = try await broker.streamAcknowledge(keys.queue(source), group: HookKeys.group, ids: ids)
        } catch {
            logger.warning("cannot acknowledge delivered webhook events; they will be delivered again", metadata: ["error": "\(error)"])
        }
    }

    /// Sends `events` to `endpoint` until it answers 2xx, or until `retryFor` after the
    /// oldest of them (then they go to the dead letters), keeping the batch's entries
    /// (`ids`) claimed meanwhile.
    private func deliver(
        _ events: [HookEvent], of source: HookSource, to endpoint: WebhookEndpoint, holding ids: [String], client: HTTPClient,
        logger: Logger
    ) async {
        let giveUpAt = (events.map(\.timeMs).min() ?? epochMilliseconds()) + Int64(BrokerCommand.milliseconds(configuration.retryFor) ?? 0)
        var backoff = Backoff(initial: configuration.initialBackoff, maximum: configuration.maxBackoff)
        var attempts = 0
        while !Task.isCancelled {
            attempts += 1
            let failure = await send(events, to: endpoint, client: client)
            guard let failure else {
                meter.delivered(events.count)
                return
            }
            // Stopping: the events stay pending for another worker; nothing failed.
            if Task.isCancelled { return }
            meter.failedAttempt()
            let wait = backoff.next()
            if epochMilliseconds() + Int64(BrokerCommand.milliseconds(wait) ?? 0) > giveUpAt {
                logger.warning("webhook not delivered within the retry window; moved to the dead letters", metadata: [
                    "url": "\(endpoint.url)", "events": "\(events.count)", "attempts": "\(attempts)", "error": "\(failure)",
                ])
                await deadLetter(events, of: source, url: endpoint.url, error: failure, attempts: attempts, logger: logger)
                return
            }
            logger.debug("webhook delivery failed; retrying", metadata: ["url": "\(endpoint.url)", "error": "\(failure)", "in": "\(wait)"])
            await sleepHolding(ids, of: source, for: wait)
        }
    }

    /// The most of a receiver's answer body that is read.
    static let maxAnswerBytes = 64 * 1024

    /// One request. - Returns: nil when the receiver answered 2xx, else why not.
    private func send(_ events: [HookEvent], to endpoint: WebhookEndpoint, client: HTTPClient) async -> String? {
        let (body, headers) = endpoint.request(for: events, timeMs: epochMilliseconds())
        var request = HTTPClientRequest(url: endpoint.url)
        request.method = .POST
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let (timeout, prepared) = (configuration.requestTimeout, request)
        do {
            // The whole exchange, the answer's body included, within the timeout: a receiver
            // that drips its answer cannot hold its source's deliveries longer than that.
            return try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask {
                    let response = try await client.execute(prepared, timeout: .init(timeout))
                    // Read (and drop) what the receiver says, so that the connection can be
                    // reused; at most 64 KiB of it, then the connection is dropped instead.
                    var read = 0
                    for try await chunk in response.body {
                        read += chunk.readableBytes
                        if read > Self.maxAnswerBytes { break }
                    }
                    return (200..<300).contains(response.status.code) ? nil : "HTTP \(response.status.code)"
                }
                group.addTask {
                    try await Task.sleep(for: timeout)
                    return "no complete answer within \(timeout)"
                }
                defer { group.cancelAll() }
                return try await group.next() ?? "no answer"
            }
        } catch {
            return "\(error)"
        }
    }

    /// Waits `duration`, touching the batch's entries often enough that no other worker
    /// takes them over meanwhile.
    private func sleepHolding(_ ids: [String], of source: HookSource, for duration: Duration) async {
        var remaining = duration
        let slice = configuration.claimAfter / 2
        while remaining > .zero, !Task.isCancelled {
            let step = min(remaining, slice)
            try? await Task.sleep(for: step)
            remaining -= step
            _ = try? await broker.streamClaim(keys.queue(source), group: HookKeys.group, consumer: configuration.consumer, ids: ids)
        }
    }

    private func deadLetter(_ events: [HookEvent], of source: HookSource, url: String, error: String, attempts: Int, logger: Logger) async {
        let key = keys.deadLetters(source)
        let commands: [BrokerCommand] = events.map { event in
            var fields = event.streamFields
            fields["url"] = url
            fields["error"] = error
            fields["attempts"] = String(attempts)
            fields["failed_ms"] = String(epochMilliseconds())
            return .streamAdd(key: key, fields: fields, maxLength: 10_000)
        }
        do {
            _ = try await broker.execute(commands, atomically: false)
            meter.deadLettered(events.count)
        } catch {
            logger.error("cannot write webhook dead letters; the events are dropped", metadata: ["error": "\(error)", "events": "\(events.count)"])
            meter.dropped(events.count)
        }
    }
}

/// Capped exponential backoff with full jitter: each wait is random between half the current
/// step and the step, and the step doubles up to the maximum.
struct Backoff {
    private var step: Duration
    private let maximum: Duration

    init(initial: Duration, maximum: Duration) {
        self.step = initial
        self.maximum = maximum
    }

    mutating func next() -> Duration {
        let current = step
        step = min(step * 2, maximum)
        let milliseconds = max(1, BrokerCommand.milliseconds(current) ?? 1)
        return .milliseconds(Int64.random(in: (milliseconds / 2)...milliseconds))
    }
}
