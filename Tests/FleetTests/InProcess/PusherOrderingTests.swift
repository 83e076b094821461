import Foundation
import PusherCore
import Synchronization
import Testing

/// A subscription starts with its `pusher_internal:subscription_succeeded`: no event of the
/// channel (another client's trigger, a subscription count) reaches the client before it.
@Suite("Pusher: a subscription's first frame is its confirmation")
struct PusherOrderingTests {
    @Test("under a flood of events on the channel, every new subscriber's first frame for it is subscription_succeeded", arguments: FleetBrokerKind.allCases)
    func confirmationFirst(kind: FleetBrokerKind) async throws {
        try await withFleet(kind, pusher: PusherFleetTests.apps) { fleet in
            // The app with subscription counts: each subscribe also causes a count event.
            let app = try #require(PusherFleetTests.apps.app(id: "3"))
            let holder = try await PusherTestClient.connect(fleet, node: 0, key: app.key)
            try await holder.subscribe("flood")
            let stop = Atomic<Bool>(false)
            let rest = PusherREST(port: fleet.gatewayPorts[0], app: app)
            let flooder = Task {
                var sent = 0
                while !stop.load(ordering: .relaxed) {
                    _ = try await rest.post("/apps/3/events", #"{"name":"tick","channel":"flood","data":"\#(sent)"}"#)
                    sent += 1
                }
                return sent
            }
            defer { stop.store(true, ordering: .relaxed) }
            for round in 0..<12 {
                let client = try await PusherTestClient.connect(fleet, node: round % 2, key: app.key)
                try await client.send(#"{"event":"pusher:subscribe","data":{"channel":"flood"}}"#)
                var first: [String: Any]
                repeat { first = try await client.next() } while first["channel"] as? String != "flood"
                #expect(first["event"] as? String == "pusher_internal:subscription_succeeded", "round \(round): \(first)")
                await client.close()
            }
            stop.store(true, ordering: .relaxed)
            #expect(try await flooder.value > 12, "events flowed during the subscriptions")
            await holder.close()
        }
    }
}
