import BrokerCore
import FleetCore
import Foundation
import Logging
import NIOCore
import Observability
import Synchronization

// The heartbeat, the janitor's share, the resync, and leaving the fleet.
extension NodeService {
    // MARK: Heartbeat

    /// Told by the server once it listens (matters when the configured port is 0).
    func listening(on port: Int) {
        boundPort.store(port, ordering: .relaxed)
        hub.describe(["version": .string(wscenterVersion), "address": .string("\(advertisedHost):\(port)")])
    }

    /// The address clients reach: `ADVERTISE_HOST`, else the bind address, or this host's name
    /// for a wildcard.
    var advertisedHost: String {
        if let advertised = configuration.advertisedHost, !advertised.isEmpty { return advertised }
        return ["0.0.0.0", "::", ""].contains(configuration.host) ? ProcessInfo.processInfo.hostName : configuration.host
    }

    var info: NodeInfo {
        NodeInfo(
            id: configuration.nodeID,
            host: advertisedHost,
            port: boundPort.load(ordering: .relaxed),
            startedAt: startedAt,
            connections: hub.connectionCount,
            version: wscenterVersion,
            expiresAt: epochMilliseconds() + (BrokerCommand.milliseconds(configuration.heartbeatTTL) ?? 3_000)
        )
    }

    /// Writes the heartbeat: the `node:<id>` key with its TTL and the `nodes` entry. When
    /// the key had expired (this node stalled longer than its TTL, and the janitor may have
    /// removed its bindings), the bindings are rewritten.
    /// - Returns: whether that resync was requested.
    @discardableResult
    func beat() async throws -> Bool {
        let text = info.encoded()
        let values = try await broker.executeAtomicallyPerSlot([
            .ttl(key: keys.node(configuration.nodeID)),
            .set(key: keys.node(configuration.nodeID), value: text, ttl: configuration.heartbeatTTL),
            .hashSet(key: keys.nodes, fields: [configuration.nodeID: text]),
        ])
        lastBeat.store(epochMilliseconds(), ordering: .relaxed)
        let hadBeaten = hasBeaten.exchange(true, ordering: .relaxed)
        guard case .int(let ttl) = values.first, ttl < 0, hadBeaten else { return false }
        logger.warning("this node's heartbeat key was gone: rewriting its bindings")
        requestResync()
        return true
    }

    /// Everything this node wrote to the broker is written again: bindings and protocols' state.
    func requestResync() {
        sync.requestResync()
        for clientProtocol in protocols { clientProtocol.resync(on: self) }
    }

    func heartbeatLoop() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeatInterval)
            do {
                try await beat()
            } catch is CancellationError {
                return
            } catch {
                logger.debug("heartbeat not written", metadata: ["error": "\(error)"])
            }
        }
    }

    func janitorLoop() async {
        var janitor = NodeJanitor(broker: broker, keys: keys, nodeID: configuration.nodeID, logger: logger, sessionTTL: configuration.reconnectionTTL)
        janitor.forgetProtocolState = { [protocols] dead in
            for clientProtocol in protocols { try await clientProtocol.forgetNode(dead, on: self) }
        }
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.janitorInterval)
            do {
                try await janitor.sweep()
            } catch {
                logger.debug("janitor pass failed", metadata: ["error": "\(error)"])
            }
        }
    }

    /// Hands the sessions away on this node to another live node, at one point of the calls'
    /// order (see ``NodeOperation/adoptSessions(from:to:sessions:)``), and waits until this
    /// node's recordings for them are written. Without another node, they are lost with this one.
    func handOverAwaySessions() async {
        let sessions = hub.awaySessions()
        guard !sessions.isEmpty, let requester = self.requester else { return }
        do {
            guard let target = try await directory.liveNodes().filter({ $0 != configuration.nodeID }).randomElement() else {
                logger.warning("no other node to take over the sessions away here", metadata: ["sessions": "\(sessions.count)"])
                return
            }
            let answers = try await requester.call(
                [.adoptSessions(from: configuration.nodeID, to: target, sessions: sessions)],
                on: keys.broadcastChannel(from: configuration.nodeID), awaiting: [configuration.nodeID, target], timeout: configuration.callTimeout
            )
            await mailboxes.flush()
            logger.info("handed over sessions", metadata: [
                "sessions": "\(sessions.count)", "to": "\(target)", "acknowledged": "\(answers[target] != nil)",
            ])
        } catch {
            logger.warning("could not hand over the sessions away here", metadata: ["error": "\(error)"])
        }
    }

    /// Takes this node out of the fleet's view (on an orderly stop).
    func leave() async {
        do {
            for clientProtocol in protocols { try await clientProtocol.forgetNode(configuration.nodeID, on: self) }
            try await NodeJanitor.forgetNode(configuration.nodeID, broker: broker, keys: keys, sessionTTL: configuration.reconnectionTTL)
            try await broker.publish(configuration.nodeID, to: keys.nodeEventsChannel)
        } catch {
            logger.warning("could not remove this node from the broker; the janitor will", metadata: ["error": "\(error)"])
        }
    }
}
