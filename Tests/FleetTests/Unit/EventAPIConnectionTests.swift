import NIOCore
import NIOHTTP1
import Testing

@testable import FleetGateway

/// The event API's per-connection rules, without a channel: what is answered here, what is
/// forwarded to Hummingbird, and the order of both on a pipelining connection.
@Suite("Event API connection")
struct EventAPIConnectionTests {
    private typealias Machine = EventAPIConnection

    private func head(_ uri: String = "/?event=getConnectionCount", method: HTTPMethod = .GET, headers: HTTPHeaders = [:]) -> HTTPRequestHead {
        HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
    }

    private func event(_ uri: String = "/?event=getConnectionCount", refusal: APIError? = nil, headers: HTTPHeaders = [:]) -> Machine.Part {
        .head(head(uri, headers: headers), .eventAPI(refusal: refusal))
    }

    private func other(_ uri: String = "/healthz") -> Machine.Part {
        .head(head(uri), .other)
    }

    private func body(_ text: String) -> Machine.Part {
        .body(ByteBuffer(string: text))
    }

    /// A compact name for an action, to compare sequences.
    private func describe(_ action: Machine.Action) -> String {
        switch action {
        case .forward(.head(let head)): return "forward head \(head.uri)"
        case .forward(.body(let buffer)): return "forward body \(String(buffer: buffer))"
        case .forward(.end): return "forward end"
        case .run(let head, let body): return "run \(head.uri) body=\(body.map { String(buffer: $0) } ?? "nil")"
        case .sendContinue: return "continue"
        case .refuse(_, let error, let close): return "refuse \(error.status) close=\(close)"
        case .close: return "close"
        case .none: return "none"
        }
    }

    private func feed(_ machine: inout Machine, _ parts: [Machine.Part]) -> [String] {
        parts.map { describe(machine.received($0)) }
    }

    private func drain(_ machine: inout Machine) -> [String] {
        var out: [String] = []
        while let action = machine.nextQueued() { out.append(describe(action)) }
        return out
    }

    @Test("an event API request runs with its body once complete")
    func runsWithBody() {
        var machine = Machine(maxBodySize: 100)
        let post = Machine.Part.head(head("/", method: .POST), .eventAPI(refusal: nil))
        #expect(feed(&machine, [post, body("{\"a\":"), body("1}")]) == ["none", "none", "none"])
        #expect(!machine.holdsReads)
        #expect(feed(&machine, [.end]) == ["run / body={\"a\":1}"])
        #expect(machine.isBusy && !machine.holdsReads)
        machine.answered()
        #expect(!machine.isBusy)
    }

    @Test("other requests go to Hummingbird part by part")
    func forwardsOthers() {
        var machine = Machine(maxBodySize: 100)
        #expect(feed(&machine, [other("/apps/1/events"), body("x"), .end]) == ["forward head /apps/1/events", "forward body x", "forward end"])
        #expect(!machine.holdsReads)
    }

    @Test("a refused caller is answered at its head: with a body to come the connection closes, without one it stays")
    func refusesAtHead() {
        var withBody = Machine(maxBodySize: 100)
        let refused = event(refusal: .unauthorized("invalid token"), headers: ["content-length": "1000000"])
        #expect(feed(&withBody, [refused, body("secret stuff"), .end, event()]) == ["refuse 401 close=true", "none", "none", "none"])

        var without = Machine(maxBodySize: 100)
        #expect(feed(&without, [event(refusal: .unauthorized("missing token")), .end]) == ["refuse 401 close=false", "none"])
        #expect(!without.isBusy)
        #expect(feed(&without, [event(), .end]) == ["none", "run /?event=getConnectionCount body=nil"])
        #expect(without.isBusy)
    }

    @Test("Expect: 100-continue gets its interim answer once the request is accepted, not when refused or too large")
    func expectContinue() {
        var accepted = Machine(maxBodySize: 100)
        #expect(feed(&accepted, [event(headers: ["expect": "100-Continue", "content-length": "2"]), body("{}"), .end])
            == ["continue", "none", "run /?event=getConnectionCount body={}"])
        var refused = Machine(maxBodySize: 100)
        #expect(feed(&refused, [event(refusal: .unauthorized("invalid token"), headers: ["expect": "100-continue", "content-length": "2"])])
            == ["refuse 401 close=true"])
        var large = Machine(maxBodySize: 1)
        #expect(feed(&large, [event(headers: ["expect": "100-continue", "content-length": "2"])]) == ["refuse 413 close=true"])
    }

    @Test("a body over the limit is refused with 413 and the connection closes, by Content-Length or as it arrives")
    func bodyLimit() {
        var declared = Machine(maxBodySize: 4)
        #expect(feed(&declared, [event(headers: ["content-length": "5"])]) == ["refuse 413 close=true"])
        #expect(feed(&declared, [body("12345"), .end, event()]) == ["none", "none", "none"])

        var streamed = Machine(maxBodySize: 4)
        #expect(feed(&streamed, [event(), body("123"), body("45")]) == ["none", "none", "refuse 413 close=true"])
        #expect(feed(&streamed, [.end]) == ["none"])
    }

    @Test("pipelined after an event API request: everything waits until it is answered, then goes in order")
    func pipelinedAfterEventAPI() {
        var machine = Machine(maxBodySize: 100)
        #expect(feed(&machine, [event("/?event=a"), .end]) == ["none", "run /?event=a body=nil"])
        #expect(feed(&machine, [other("/healthz"), .end, event("/?event=b"), .end]) == ["none", "none", "none", "none"])
        #expect(machine.holdsReads)
        #expect(drain(&machine).isEmpty, "nothing moves while the first request runs")
        machine.answered()
        // The forwarded request goes on; the event API request behind it waits for its answer.
        #expect(drain(&machine) == ["forward head /healthz", "forward end"])
        #expect(machine.holdsReads)
        machine.forwardedResponseEnded()
        #expect(drain(&machine) == ["none", "run /?event=b body=nil"])
        machine.answered()
        #expect(!machine.holdsReads)
    }

    @Test("an event API request behind forwarded ones runs only after their responses ended")
    func waitsForForwarded() {
        var machine = Machine(maxBodySize: 100)
        #expect(feed(&machine, [other("/one"), .end, other("/two"), .end]) == ["forward head /one", "forward end", "forward head /two", "forward end"])
        #expect(feed(&machine, [event(), .end]) == ["none", "none"])
        machine.forwardedResponseEnded()
        #expect(drain(&machine).isEmpty)
        machine.forwardedResponseEnded()
        #expect(drain(&machine) == ["none", "run /?event=getConnectionCount body=nil"])
    }

    @Test("a client that pipelines too much while it waits is closed")
    func boundedQueue() {
        var machine = Machine(maxBodySize: 100)
        _ = feed(&machine, [event(), .end])
        for _ in 0..<Machine.maxQueuedParts {
            #expect(describe(machine.received(other())) == "none")
        }
        #expect(describe(machine.received(other())) == "close")
        machine.answered()
        #expect(drain(&machine).isEmpty, "the queue is gone with the connection")
        #expect(describe(machine.received(event())) == "none")
    }

    @Test("parts out of HTTP's order close the connection")
    func brokenStream() {
        var idleBody = Machine(maxBodySize: 100)
        #expect(feed(&idleBody, [body("x")]) == ["close"])
        var twoHeads = Machine(maxBodySize: 100)
        #expect(feed(&twoHeads, [event(), event()]) == ["none", "close"])
    }
}

@Suite("Event API routing")
struct EventAPIRoutingTests {
    @Test("the request target splits into path and query, without the fragment")
    func split() {
        #expect(EventAPIResponder.split("/?event=a&token=t") == ("/", "event=a&token=t"))
        #expect(EventAPIResponder.split("//?event=a#frag") == ("//", "event=a"))
        #expect(EventAPIResponder.split("/apps/1/events") == ("/apps/1/events", ""))
        #expect(EventAPIResponder.split("/#x?y") == ("/", ""))
    }
}
