import BrokerCore

/// Fleet-wide membership (presence members, signed-in users), decided atomically by the
/// broker so that "first join" and "last leave" each happen exactly once, whatever nodes race.
///
/// Two hashes per set of members: the fleet hash (member → the nodes holding it, joined by
/// line breaks) and one node hash per node (member → its value, e.g. user_info). Node ids
/// never hold whitespace (`NODE_ID` is checked).
package enum MembershipScripts {
    /// KEYS: fleet hash, node hash. ARGV: member, node, value, limit (0 = none).
    /// → `.int(1)` the member is new fleet-wide, `.int(0)` it was already there (now on this
    /// node too), `.int(-1)` refused: the fleet already holds `limit` members.
    package static let join = BrokerScript(
        name: "wsc-membership-join",
        lua: """
            local nodes = redis.call('HGET', KEYS[1], ARGV[1])
            if not nodes then
              local limit = tonumber(ARGV[4])
              if limit > 0 and redis.call('HLEN', KEYS[1]) >= limit then return -1 end
              redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
              redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
              return 1
            end
            redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
            for node in string.gmatch(nodes, '[^\\n]+') do
              if node == ARGV[2] then return 0 end
            end
            redis.call('HSET', KEYS[1], ARGV[1], nodes .. '\\n' .. ARGV[2])
            return 0
            """
    ) { keys, arguments, run in
        let (member, node, value, limit) = (arguments[0], arguments[1], arguments[2], Int(arguments[3]) ?? 0)
        guard case .string(let nodes) = try run(.hashGet(key: keys[0], field: member)) else {
            if limit > 0, case .int(let count) = try run(.hashLength(key: keys[0])), count >= limit { return .int(-1) }
            _ = try run(.hashSet(key: keys[1], fields: [member: value]))
            _ = try run(.hashSet(key: keys[0], fields: [member: node]))
            return .int(1)
        }
        _ = try run(.hashSet(key: keys[1], fields: [member: value]))
        let list = nodes.split(separator: "\n")
        if list.contains(where: { $0 == node }) { return .int(0) }
        _ = try run(.hashSet(key: keys[0], fields: [member: nodes + "\n" + node]))
        return .int(0)
    }

    /// KEYS: fleet hash, node hash. ARGV: member, node.
    /// → `.int(1)` the member is gone fleet-wide (it was on no other node), else `.int(0)`.
    package static let leave = BrokerScript(
        name: "wsc-membership-leave",
        lua: """
            redis.call('HDEL', KEYS[2], ARGV[1])
            local nodes = redis.call('HGET', KEYS[1], ARGV[1])
            if not nodes then return 0 end
            local kept = {}
            for node in string.gmatch(nodes, '[^\\n]+') do
              if node ~= ARGV[2] then table.insert(kept, node) end
            end
            if #kept == 0 then
              redis.call('HDEL', KEYS[1], ARGV[1])
              return 1
            end
            redis.call('HSET', KEYS[1], ARGV[1], table.concat(kept, '\\n'))
            return 0
            """
    ) { keys, arguments, run in
        let (member, node) = (arguments[0], arguments[1])
        _ = try run(.hashDelete(key: keys[1], fields: [member]))
        guard case .string(let nodes) = try run(.hashGet(key: keys[0], field: member)) else { return .int(0) }
        let kept = nodes.split(separator: "\n").filter { $0 != node }
        if kept.isEmpty {
            _ = try run(.hashDelete(key: keys[0], fields: [member]))
            return .int(1)
        }
        _ = try run(.hashSet(key: keys[0], fields: [member: kept.joined(separator: "\n")]))
        return .int(0)
    }

    /// A node is gone: every member it held leaves. KEYS: fleet hash, node hash. ARGV: node.
    /// → `.strings` the members gone fleet-wide.
    package static let nodeGone = BrokerScript(
        name: "wsc-membership-node-gone",
        lua: """
            local members = redis.call('HKEYS', KEYS[2])
            redis.call('DEL', KEYS[2])
            local gone = {}
            for _, member in ipairs(members) do
              local nodes = redis.call('HGET', KEYS[1], member)
              if nodes then
                local kept = {}
                for node in string.gmatch(nodes, '[^\\n]+') do
                  if node ~= ARGV[1] then table.insert(kept, node) end
                end
                if #kept == 0 then
                  redis.call('HDEL', KEYS[1], member)
                  table.insert(gone, member)
                else
                  redis.call('HSET', KEYS[1], member, table.concat(kept, '\\n'))
                end
              end
            end
            return gone
            """
    ) { keys, arguments, run in
        let node = arguments[0]
        guard case .hash(let local) = try run(.hashGetAll(key: keys[1])) else { return .strings([]) }
        _ = try run(.delete(keys: [keys[1]]))
        var gone: [String] = []
        for member in local.keys.sorted() {
            guard case .string(let nodes) = try run(.hashGet(key: keys[0], field: member)) else { continue }
            let kept = nodes.split(separator: "\n").filter { $0 != node }
            if kept.isEmpty {
                _ = try run(.hashDelete(key: keys[0], fields: [member]))
                gone.append(member)
            } else {
                _ = try run(.hashSet(key: keys[0], fields: [member: kept.joined(separator: "\n")]))
            }
        }
        return .strings(gone)
    }

    // MARK: Leaves that wait

    // A "last leave" that webhooks announce only after a delay (`WEBHOOK_VACATE_DELAY`), and
    // drop when the member comes back meanwhile, on any node: the leave sets a marker key
    // holding a token of its own; a join that makes the member new fleet-wide again deletes
    // the marker (and says so: no "first join" to announce either); after the delay, the node
    // that left confirms, which succeeds only while the marker still holds its token.

    /// `join`, with a pending leave's marker. KEYS: fleet hash, node hash, marker. ARGV: member,
    /// node, value, limit (0 = none). → as `join`, and `.int(2)` for a member new fleet-wide
    /// whose leave was still pending: it came back, and the leave is called off.
    package static let joinCallingOffLeave = BrokerScript(
        name: "wsc-membership-join-marked",
        lua: """
            local function join()
            \(join.lua)
            end
            local result = join()
            if result == 1 and redis.call('DEL', KEYS[3]) == 1 then return 2 end
            return result
            """
    ) { keys, arguments, run in
        let result = try join.body(Array(keys.prefix(2)), arguments, run)
        if result == .int(1), try run(.delete(keys: [keys[2]])) == .int(1) { return .int(2) }
        return result
    }

    /// `leave`, marking a last leave as pending. KEYS: fleet hash, node hash, marker. ARGV:
    /// member, node, token, marker TTL in milliseconds. → as `leave`; on `.int(1)` the marker
    /// holds `token` for the TTL.
    package static let leaveMarkingPending = BrokerScript(
        name: "wsc-membership-leave-marked",
        lua: """
            local function leave()
            \(leave.lua)
            end
            local result = leave()
            if result == 1 then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
            return result
            """
    ) { keys, arguments, run in
        let result = try leave.body(Array(keys.prefix(2)), Array(arguments.prefix(2)), run)
        if result == .int(1) {
            _ = try run(.set(key: keys[2], value: arguments[2], ttl: .milliseconds(Int64(arguments[3]) ?? 1)))
        }
        return result
    }

    /// Confirms a pending leave after its delay. KEYS: marker, fleet hash. ARGV: token, member.
    /// → `.int(1)` when the marker still held `token` (now deleted) and the member is still
    /// gone: announce the leave; else `.int(0)`.
    package static let confirmLeave = BrokerScript(
        name: "wsc-membership-confirm-leave",
        lua: """
            if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
            redis.call('DEL', KEYS[1])
            if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
            return 1
            """
    ) { keys, arguments, run in
        guard try run(.get(key: keys[0])) == .string(arguments[0]) else { return .int(0) }
        _ = try run(.delete(keys: [keys[0]]))
        guard try run(.hashGet(key: keys[1], field: arguments[1])) == .null else { return .int(0) }
        return .int(1)
    }
}
