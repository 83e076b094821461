import ArgumentParser
import Foundation
import Hooks
import PusherCore

/// Where webhooks go and how long they are retried (docs/webhooks.md). Pusher apps of
/// `APPS_FILE` list their own endpoints in `webhooks`.
struct WebhookOptions: ParsableArguments {
    @Option(name: .customLong("webhook-url"), help: "URL that receives the native protocol's events (connect, disconnect, bind, unbind, join, leave, reconnect); unset = none (env WEBHOOK_URL).")
    var urlFlag: String?
    var url: String? { urlFlag ?? environment("WEBHOOK_URL") }

    @Option(name: .customLong("webhook-events"), help: "Comma-separated native events WEBHOOK_URL receives; unset = all (env WEBHOOK_EVENTS).")
    var eventsFlag: String?
    var events: String? { eventsFlag ?? environment("WEBHOOK_EVENTS") }

    @Option(name: .customLong("webhook-secret"), help: "Signs native webhooks: X-Wscenter-Signature, hex HMAC-SHA256 of the body (env WEBHOOK_SECRET).")
    var secretFlag: String?
    var secret: String? { secretFlag ?? environment("WEBHOOK_SECRET") }

    @Option(name: .customLong("webhook-retry-for"), help: "Seconds an undelivered webhook event is retried after it happened; then it goes to the dead letters (env WEBHOOK_RETRY_FOR).")
    var retryFor: Double = Environment.value("WEBHOOK_RETRY_FOR", 300)

    @Option(name: .customLong("webhook-vacate-delay"), help: "Seconds channel_vacated and member_removed wait; dropped if the channel or member comes back meanwhile (env WEBHOOK_VACATE_DELAY).")
    var vacateDelay: Double = Environment.value("WEBHOOK_VACATE_DELAY", 3)

    @Option(name: .customLong("webhook-spool-dir"), help: "Directory of the files where a node keeps webhook events while Redis is unreachable (env WEBHOOK_SPOOL_DIR; default: a directory per NODE_ID under the system's temporary directory).")
    var spoolDirFlag: String?
    var spoolDir: String? { spoolDirFlag ?? environment("WEBHOOK_SPOOL_DIR") }

    @Option(name: .customLong("webhook-spool-max"), help: "Events a node's spool holds at most; more are dropped, counted in wscenter_webhook_events_dropped_total (env WEBHOOK_SPOOL_MAX).")
    var spoolMax: Int = Environment.value("WEBHOOK_SPOOL_MAX", 10_000)

    /// The spool file of a node's `kind` of events (`native`, `pusher`); the directory is made
    /// if need be. nil (memory only) when it cannot be.
    func spoolFile(nodeID: String, of kind: String) -> String? {
        let directory = spoolDir ?? (NSTemporaryDirectory() + "wscenter-webhooks-" + nodeID)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            return nil
        }
        return directory + "/" + kind + ".spool"
    }

    @Option(name: .customLong("app-webhook-url"), help: "URL that receives the default Pusher app's webhooks; unset = none (env APP_WEBHOOK_URL).")
    var appURLFlag: String?
    var appURL: String? { appURLFlag ?? environment("APP_WEBHOOK_URL") }

    @Option(name: .customLong("app-webhook-events"), help: "Comma-separated events APP_WEBHOOK_URL receives; unset = all (env APP_WEBHOOK_EVENTS).")
    var appEventsFlag: String?
    var appEvents: String? { appEventsFlag ?? environment("APP_WEBHOOK_EVENTS") }

    func validate() throws {
        for (name, url) in [("WEBHOOK_URL", url), ("APP_WEBHOOK_URL", appURL)] {
            if let url, !Self.isHTTPURL(url) {
                throw ValidationError("\(name) must be an http:// or https:// URL, got \(url)")
            }
        }
        guard vacateDelay >= 0, vacateDelay <= 3600 else {
            throw ValidationError("--webhook-vacate-delay (WEBHOOK_VACATE_DELAY) must be a number of seconds in [0, 3600], got \(vacateDelay)")
        }
        guard spoolMax >= 1, spoolMax <= 10_000_000 else {
            throw ValidationError("--webhook-spool-max (WEBHOOK_SPOOL_MAX) must be in [1, 10000000], got \(spoolMax)")
        }
        guard retryFor >= 1, retryFor <= 86_400 else {
            throw ValidationError("--webhook-retry-for (WEBHOOK_RETRY_FOR) must be a number of seconds in [1, 86400], got \(retryFor)")
        }
    }

    /// Every source's endpoints: each Pusher app's (the default app's from
    /// `APP_WEBHOOK_URL`, the others' from `APPS_FILE`), and the native protocol's.
    /// The native events to queue (`WEBHOOK_EVENTS`); nil for all.
    var nativeEventNames: Set<String>? { Self.list(events).map(Set.init) }

    /// - Parameter apps: nil when the Pusher side is off.
    func endpoints(apps: PusherApps?) throws -> [HookSource: [WebhookEndpoint]] {
        var sources: [HookSource: [WebhookEndpoint]] = [:]
        for app in apps?.all ?? [] {
            // The default app's APP_WEBHOOK_URL is among its webhooks (CommonOptions.pusherApps()).
            let endpoints = try app.webhooks.map { hook in
                guard Self.isHTTPURL(hook.url) else {
                    throw ValidationError("app \(app.id): webhook url must be an http:// or https:// URL, got \(hook.url)")
                }
                return WebhookEndpoint(
                    url: hook.url, events: hook.eventTypes.map(Set.init), channelPrefix: hook.filter?.channelNameStartsWith,
                    channelSuffix: hook.filter?.channelNameEndsWith, headers: hook.headers ?? [:],
                    signing: .pusher(key: app.key, secret: app.secret)
                )
            }
            if !endpoints.isEmpty { sources[.pusher(appID: app.id)] = endpoints }
        }
        if let url {
            sources[.native] = [WebhookEndpoint(url: url, events: nativeEventNames, signing: .native(secret: secret))]
        }
        return sources
    }

    static func list(_ text: String?) -> [String]? {
        guard let text else { return nil }
        let names = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return names.isEmpty ? nil : names
    }

    private static func isHTTPURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && text.count > "https://".count
    }
}
