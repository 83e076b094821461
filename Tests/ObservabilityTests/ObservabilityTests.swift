import BrokerCore
import BrokerEmbedded
import Foundation
import Logging
import Testing
import WSCTesting

@testable import Observability

@Suite("Logs: one logfmt line per event")
struct LogfmtTests {
    @Test("role and node first, then msg, then the other fields sorted; plain values bare")
    func order() {
        let line = LogfmtLogHandler.format(
            date: Date(timeIntervalSince1970: 1_796_139_323.123), level: .notice, message: "draining",
            fields: ["signal": "SIGTERM", "node": "n1", "role": "node", "connections": "3"]
        )
        #expect(line == "ts=2026-12-01T15:35:23.123Z level=notice role=node node=n1 msg=draining connections=3 signal=SIGTERM\n")
    }

    @Test("values with spaces, quotes, = or control characters are quoted and escaped")
    func quoting() {
        #expect(LogfmtLogHandler.quoted("node listening") == #""node listening""#)
        #expect(LogfmtLogHandler.quoted(#"say "hi""#) == #""say \"hi\"""#)
        #expect(LogfmtLogHandler.quoted("a=b") == #""a=b""#)
        #expect(LogfmtLogHandler.quoted("line\nbreak") == #""line\nbreak""#)
        #expect(LogfmtLogHandler.quoted("back\\slash") == #""back\\slash""#)
        #expect(LogfmtLogHandler.quoted("") == #""""#)
        #expect(LogfmtLogHandler.quoted("127.0.0.1:6379/0") == "127.0.0.1:6379/0")
    }

    @Test("a logger's level and metadata reach the line; events below the level are dropped")
    func handler() {
        let lines = LockedLines()
        var logger = Logger(label: "test") { _ in LogfmtLogHandler { lines.append($0) } }
        logger.logLevel = .info
        logger[metadataKey: "role"] = "gateway"
        logger.debug("hidden")
        logger.info("request failed", metadata: ["error": "broker unreachable"])
        #expect(lines.all.count == 1)
        #expect(lines.all.first?.hasSuffix(#" level=info role=gateway msg="request failed" error="broker unreachable""# + "\n") == true)
    }
}

final class LockedLines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite("Readiness reports")
struct ReadinessTests {
    @Test("ready: 200 and status ready; not ready: 503 with every reason, JSON-escaped")
    func json() throws {
        #expect(ReadinessReport().status == 200)
        #expect(ReadinessReport().json == #"{"status":"ready"}"#)
        let report = ReadinessReport(reasons: ["draining: this node is shutting down", #"broker unreachable: "refused""#])
        #expect(report.status == 503)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.json.utf8)) as? [String: Any])
        #expect(object["status"] as? String == "not ready")
        #expect(object["reasons"] as? [String] == report.reasons)
    }

    @Test("a broker probe that fails or does not answer in time gives its reason")
    func probe() async throws {
        let answered = await ReadinessCheck.broker { 42 }
        #expect(try answered.get() == 42)
        struct Refused: Error, CustomStringConvertible { var description: String { "connection refused" } }
        let failed = await ReadinessCheck.broker { () async throws -> Int in throw Refused() }
        #expect(failed == .failure(BrokerProbeFailure(description: "broker unreachable: connection refused")))
        let start = ContinuousClock.now
        let slow = await ReadinessCheck.broker(within: .milliseconds(100)) { () async throws -> Int in
            try await Task.sleep(for: .seconds(30))
            return 0
        }
        #expect(ContinuousClock.now - start < .seconds(5))
        guard case .failure(let failure) = slow else {
            Issue.record("a probe that never answers must fail")
            return
        }
        #expect(failure.description.hasPrefix("broker did not answer within"))
    }

    @Test("a probe that ignores cancellation (a Redis command to a frozen server) is answered by the deadline, not when it ends")
    func stubbornProbe() async throws {
        let start = ContinuousClock.now
        let stuck = await ReadinessCheck.broker(within: .milliseconds(200)) { () async throws -> Int in
            // Ends 60 s later whatever happens: cancelling this task does not shorten it.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                Task.detached {
                    try? await Task.sleep(for: .seconds(60))
                    continuation.resume()
                }
            }
            return 0
        }
        // Loose: other suites running in parallel can keep the concurrency pool busy for seconds.
        let took = ContinuousClock.now - start
        #expect(took < .seconds(20), "the readiness probe waited \(took) for a probe that ignores cancellation")
        guard case .failure(let failure) = stuck else {
            Issue.record("a probe that does not answer in time must fail")
            return
        }
        #expect(failure.description == "broker did not answer within 0.2 seconds")
    }
}

@Suite("Metrics")
struct MetricsTests {
    @Test("the exposition parses as Prometheus text; counters, gauges and histograms move")
    func exposition() throws {
        let telemetry = Telemetry()
        let native = SocketMeter(protocol: "native", telemetry: telemetry)
        let pusher = SocketMeter(protocol: "pusher", telemetry: telemetry)
        let api = APIMeter(telemetry: telemetry)
        let before = try PrometheusText(parsing: String(decoding: telemetry.render(), as: UTF8.self))
        #expect(before.value(MetricName.connections, ["protocol": "native"]) == 0)
        #expect(before.value(MetricName.draining) == 0)

        native.connectionOpened()
        native.connectionOpened()
        native.connectionClosed()
        native.received(bytes: 4)
        native.sent(bytes: 10)
        native.sent(bytes: 6)
        pusher.connectionOpened()
        api.request(events: ["bindId", "sendMessageToId"], api: "event", status: 200, duration: .milliseconds(3))
        api.request(events: ["unknown"], api: "event", status: 400, duration: .microseconds(200))
        api.repliesTimedOut(2)
        api.repliesTimedOut(0)
        api.nodesAlive(3)
        telemetry.startedDraining()

        let text = String(decoding: telemetry.render(), as: UTF8.self)
        let after = try PrometheusText(parsing: text)
        #expect(after.types[MetricName.connections] == "gauge")
        #expect(after.types[MetricName.apiRequests] == "counter")
        #expect(after.types[MetricName.apiDuration] == "histogram")
        #expect(after.value(MetricName.connections, ["protocol": "native"]) == 1)
        #expect(after.value(MetricName.connections, ["protocol": "pusher"]) == 1)
        #expect(after.value(MetricName.connectionsOpened, ["protocol": "native"]) == 2)
        #expect(after.value(MetricName.connectionsClosed, ["protocol": "native"]) == 1)
        #expect(after.value(MetricName.messagesIn, ["protocol": "native"]) == 1)
        #expect(after.value(MetricName.bytesIn, ["protocol": "native"]) == 4)
        #expect(after.value(MetricName.messagesOut, ["protocol": "native"]) == 2)
        #expect(after.value(MetricName.bytesOut, ["protocol": "native"]) == 16)
        #expect(after.value(MetricName.apiRequests, ["event": "bindId", "status": "200"]) == 1)
        #expect(after.value(MetricName.apiRequests, ["event": "sendMessageToId", "status": "200"]) == 1)
        #expect(after.value(MetricName.apiRequests, ["event": "unknown", "status": "400"]) == 1)
        #expect(after.value(MetricName.apiDuration + "_count", ["api": "event"]) == 2)
        // 200 µs falls in the first bucket (250 µs); 3 ms in the 5 ms one.
        #expect(after.value(MetricName.apiDuration + "_bucket", ["api": "event", "le": "0.00025"]) == 1)
        #expect(after.value(MetricName.apiDuration + "_bucket", ["api": "event", "le": "0.005"]) == 2)
        #expect(after.value(MetricName.repliesTimedOut) == 2)
        #expect(after.value(MetricName.nodesAlive) == 3)
        #expect(after.value(MetricName.draining) == 1)
    }

    @Test("two Telemetry instances keep their counts apart")
    func isolation() throws {
        let first = Telemetry(), second = Telemetry()
        SocketMeter(protocol: "native", telemetry: first).connectionOpened()
        let parsed = try PrometheusText(parsing: String(decoding: second.render(), as: UTF8.self))
        #expect(parsed.value(MetricName.connectionsOpened, ["protocol": "native"]) == nil)
    }

    @Test("the parser rejects what Prometheus would")
    func parserRejects() {
        for bad in [
            "1abc 1", "name{a=\"1\" 2", "name{a=1} 2", "name not-a-number", "# TYPE name bogus",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1",
            "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 3",
        ] {
            #expect(throws: PrometheusText.ParseError.self, "\(bad)") { try PrometheusText(parsing: bad) }
        }
    }

    @Test("the metered broker times commands and publishes and passes them through")
    func meteredBroker() async throws {
        let telemetry = Telemetry()
        let broker = MeteredBroker(EmbeddedBroker(), telemetry: telemetry)
        let runner = Task { try await broker.run() }
        defer { runner.cancel() }
        _ = try await broker.execute([.set(key: "k", value: "v", ttl: nil), .get(key: "k")], atomically: true)
        #expect(try await broker.get("k") == "v")
        try await broker.publish("m", to: "c")
        let parsed = try PrometheusText(parsing: String(decoding: telemetry.render(), as: UTF8.self))
        #expect(parsed.value(MetricName.brokerRoundTrip + "_count", ["operation": "execute"]) == 2)
        #expect(parsed.value(MetricName.brokerRoundTrip + "_count", ["operation": "publish"]) == 1)
        #expect(parsed.value(MetricName.redisReconnects) == 0)
    }
}
