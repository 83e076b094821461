import Foundation

/// Settings that tests read from the environment.
///
/// `make test` starts a throwaway `redis-server` and exports `REDIS_URL` for the whole
/// test run; every test then uses its own key and channel namespace on that one Redis,
/// so tests can run in parallel.
package enum TestEnvironment {
    /// The Redis that tests should use, from the `REDIS_URL` environment variable.
    ///
    /// - Returns: the URL, e.g. `redis://127.0.0.1:6379`.
    /// - Throws: ``WSCTestingError`` with code `environmentVariableMissing` when
    ///   `REDIS_URL` is unset or empty, saying how to provide it.
    package static func redisURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["REDIS_URL"], !url.isEmpty else {
            throw WSCTestingError(
                .environmentVariableMissing,
                "REDIS_URL is not set: run `make test`, or export REDIS_URL=redis://127.0.0.1:6379 to use your own Redis"
            )
        }
        return url
    }

    /// The Redis Cluster that tests should use, from `REDIS_CLUSTER_NODES` (`host:port,…`);
    /// `make test` starts one (`WITH_CLUSTER=1 scripts/with-redis.sh`).
    /// - Throws: ``WSCTestingError`` `environmentVariableMissing` when it is unset.
    package static func redisClusterNodes() throws -> [String] {
        guard let nodes = ProcessInfo.processInfo.environment["REDIS_CLUSTER_NODES"], !nodes.isEmpty else {
            throw WSCTestingError(
                .environmentVariableMissing,
                "REDIS_CLUSTER_NODES is not set: run `make test`, or WITH_CLUSTER=1 scripts/with-redis.sh swift test"
            )
        }
        return nodes.split(separator: ",").map { String($0) }
    }
}
