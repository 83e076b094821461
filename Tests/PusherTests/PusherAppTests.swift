import Foundation
import PusherCore
import Testing

@Suite("PusherApps")
struct PusherAppTests {
    static let defaultApp = PusherApp(id: "app-id", key: "app-key", secret: "app-secret")

    private func apps(_ json: String) throws -> PusherApps {
        try PusherApps(defaultApp: Self.defaultApp, fileContents: Data(json.utf8))
    }

    /// The message of the error that parsing `json` throws.
    private func failure(_ json: String, sourceLocation: SourceLocation = #_sourceLocation) -> String {
        do {
            _ = try apps(json)
            Issue.record("\(json) was accepted", sourceLocation: sourceLocation)
            return ""
        } catch let error as PusherAppsError {
            return error.description
        } catch {
            Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
            return ""
        }
    }

    // MARK: Reading the file

    @Test("a JSON list of apps: the default app first, then the file's in order")
    func list() throws {
        let apps = try apps(#"[{"id":"1","key":"k1","secret":"s1"},{"id":"2","key":"k2","secret":"s2"}]"#)
        #expect(apps.all.map(\.id) == ["app-id", "1", "2"])
        #expect(apps.app(id: "1")?.key == "k1")
        #expect(apps.app(key: "k2")?.id == "2")
        #expect(apps.app(key: "k2")?.secret == "s2")
        #expect(apps.app(id: "app-id") == Self.defaultApp)
        #expect(apps.app(key: "app-key") == Self.defaultApp)
        #expect(apps.app(id: "3") == nil)
        #expect(apps.app(key: "k3") == nil)
        // Ids and keys are separate namespaces.
        #expect(apps.app(id: "k1") == nil)
        #expect(apps.app(key: "1") == nil)
    }

    @Test("an object with an \"apps\" list reads the same")
    func wrappedList() throws {
        let apps = try apps(#"{"apps":[{"id":"1","key":"k1","secret":"s1"},{"id":"2","key":"k2","secret":"s2"}]}"#)
        #expect(apps.all.map(\.id) == ["app-id", "1", "2"])
        #expect(apps.app(key: "k1")?.id == "1")
    }

    @Test("an empty list, or an empty \"apps\" list, leaves the default app alone")
    func emptyLists() throws {
        #expect(try apps("[]").all == [Self.defaultApp])
        #expect(try apps(#"{"apps":[]}"#).all == [Self.defaultApp])
    }

    @Test("a numeric id is kept as its digits")
    func numericID() throws {
        let apps = try apps(#"[{"id":42,"key":"k","secret":"s"},{"id":"0043","key":"k2","secret":"s"}]"#)
        #expect(apps.app(key: "k")?.id == "42")
        #expect(apps.app(id: "42")?.key == "k")
        #expect(apps.app(id: "0043")?.key == "k2")
    }

    @Test("options not given take their defaults, the same as PusherApp(id:key:secret:)")
    func defaults() throws {
        let app = try #require(try apps(#"[{"id":"1","key":"k","secret":"s"}]"#).app(id: "1"))
        #expect(app == PusherApp(id: "1", key: "k", secret: "s"))
        #expect(app.enableClientMessages)
        #expect(app.maxConnections == 0)
        #expect(app.maxPresenceMembers == 100)
        #expect(app.maxEventPayloadKB == 10)
        #expect(app.maxEventPayloadBytes == 10_240)
        #expect(!app.enableSubscriptionCount)
        #expect(!app.requireSignin)
        #expect(app.signinTimeout == 30)
        #expect(app.clientEventRate == 10)
        #expect(app.enabled)
        #expect(app.webhooks.isEmpty)
    }

    @Test("every option is read under its snake_case name")
    func everyOption() throws {
        let json = """
            [{
              "id": "1", "key": "k", "secret": "s",
              "enable_client_messages": false,
              "max_connections": 500,
              "max_presence_members": 7,
              "max_event_payload_kb": 32,
              "enable_subscription_count": true,
              "require_signin": true,
              "signin_timeout": 2.5,
              "client_event_rate": 0,
              "enabled": false,
              "webhooks": [
                {"url": "https://example.com/hook", "event_types": ["channel_occupied", "member_added"]},
                {"url": "https://example.com/all"}
              ]
            }]
            """
        let app = try #require(try apps(json).app(id: "1"))
        #expect(!app.enableClientMessages)
        #expect(app.maxConnections == 500)
        #expect(app.maxPresenceMembers == 7)
        #expect(app.maxEventPayloadKB == 32)
        #expect(app.maxEventPayloadBytes == 32 * 1024)
        #expect(app.enableSubscriptionCount)
        #expect(app.requireSignin)
        #expect(app.signinTimeout == 2.5)
        #expect(app.clientEventRate == 0)
        #expect(!app.enabled)
        #expect(app.webhooks.map(\.url) == ["https://example.com/hook", "https://example.com/all"])
        #expect(app.webhooks.map(\.eventTypes) == [["channel_occupied", "member_added"], nil])
    }

    @Test("an app of the file with the default app's id replaces it, in the file's place")
    func fileReplacesDefault() throws {
        let apps = try apps(#"[{"id":"1","key":"k1","secret":"s1"},{"id":"app-id","key":"other-key","secret":"other","max_connections":3}]"#)
        #expect(apps.all.map(\.id) == ["1", "app-id"])
        #expect(apps.app(id: "app-id")?.key == "other-key")
        #expect(apps.app(id: "app-id")?.maxConnections == 3)
        #expect(apps.app(key: "app-key") == nil)
    }

    @Test("load without a file serves the default app only; with one, reads it")
    func load() throws {
        #expect(try PusherApps.load(defaultApp: Self.defaultApp, file: nil).all == [Self.defaultApp])

        let path = FileManager.default.temporaryDirectory.appendingPathComponent("apps-\(UUID().uuidString).json").path
        try Data(#"{"apps":[{"id":"9","key":"k9","secret":"s9"}]}"#.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let apps = try PusherApps.load(defaultApp: Self.defaultApp, file: path)
        #expect(apps.all.map(\.id) == ["app-id", "9"])
    }

    @Test("load names a file it cannot read")
    func loadMissingFile() {
        let path = "/nonexistent/\(UUID().uuidString)/apps.json"
        #expect {
            try PusherApps.load(defaultApp: Self.defaultApp, file: path)
        } throws: { error in
            let description = (error as? PusherAppsError)?.description ?? ""
            return description.contains("APPS_FILE \(path) cannot be read")
        }
    }

    @Test("an app encodes to JSON that reads back the same")
    func codableRoundTrip() throws {
        let source = #"[{"id":"5","key":"k5","secret":"s5","max_connections":9,"enable_client_messages":false,"#
            + #""signin_timeout":1.5,"webhooks":[{"url":"https://example.com","event_types":["member_added"]}]}]"#
        let app = try #require(try apps(source).app(id: "5"))
        #expect(app.webhooks.first?.eventTypes == ["member_added"])
        let json = try JSONEncoder().encode([app])
        let text = String(decoding: json, as: UTF8.self)
        #expect(text.contains(#""max_connections":9"#))
        #expect(text.contains(#""event_types":["member_added"]"#))
        #expect(try PusherApps(defaultApp: Self.defaultApp, fileContents: json).app(id: "5") == app)
    }

    // MARK: Refusals

    @Test("an id used twice is refused")
    func duplicateID() {
        let message = failure(#"[{"id":"7","key":"a","secret":"s"},{"id":"7","key":"b","secret":"s"}]"#)
        #expect(message == "app id 7 is used twice")
    }

    @Test("a key used twice is refused, also against the default app")
    func duplicateKey() {
        #expect(failure(#"[{"id":"1","key":"k","secret":"s"},{"id":"2","key":"k","secret":"s"}]"#) == "app key k is used twice")
        #expect(failure(#"[{"id":"1","key":"app-key","secret":"s"}]"#) == "app key app-key is used twice")
    }

    @Test("PusherApps(_:) refuses duplicates without a file too")
    func duplicatesInCode() {
        let a = PusherApp(id: "1", key: "k", secret: "s")
        #expect(throws: PusherAppsError.self) { try PusherApps([a, a]) }
        #expect(throws: PusherAppsError.self) { try PusherApps([a, PusherApp(id: "2", key: "k", secret: "s")]) }
        #expect(throws: Never.self) { try PusherApps([a, PusherApp(id: "2", key: "k2", secret: "s")]) }
    }

    @Test(
        "invalid settings are refused with a message naming them",
        arguments: [
            (#"{"id":"a b","key":"k","secret":"s"}"#, #"app id "a b" must be letters, digits, - or _"#),
            (#"{"id":"a/b","key":"k","secret":"s"}"#, #"app id "a/b" must be letters, digits, - or _"#),
            (#"{"id":"","key":"k","secret":"s"}"#, #"app id "" must be letters, digits, - or _"#),
            (#"{"id":"1","key":"","secret":"s"}"#, "app 1: key must be non-empty, without /, ?, : or spaces"),
            (#"{"id":"1","key":"a/b","secret":"s"}"#, "app 1: key must be non-empty, without /, ?, : or spaces"),
            (#"{"id":"1","key":"a?b","secret":"s"}"#, "app 1: key must be non-empty, without /, ?, : or spaces"),
            (#"{"id":"1","key":"a b","secret":"s"}"#, "app 1: key must be non-empty, without /, ?, : or spaces"),
            (#"{"id":"1","key":"k","secret":""}"#, "app 1: secret must not be empty"),
            (#"{"id":"1","key":"k","secret":"s","max_connections":-1}"#, "app 1: max_connections must be ≥ 0, max_presence_members ≥ 1 and max_event_payload_kb 1 to 65536"),
            (#"{"id":"1","key":"k","secret":"s","max_presence_members":0}"#, "app 1: max_connections must be ≥ 0, max_presence_members ≥ 1 and max_event_payload_kb 1 to 65536"),
            (#"{"id":"1","key":"k","secret":"s","max_event_payload_kb":0}"#, "app 1: max_connections must be ≥ 0, max_presence_members ≥ 1 and max_event_payload_kb 1 to 65536"),
            (#"{"id":"1","key":"k","secret":"s","signin_timeout":0}"#, "app 1: signin_timeout must be > 0 and client_event_rate ≥ 0"),
            (#"{"id":"1","key":"k","secret":"s","signin_timeout":-5}"#, "app 1: signin_timeout must be > 0 and client_event_rate ≥ 0"),
            (#"{"id":"1","key":"k","secret":"s","client_event_rate":-1}"#, "app 1: signin_timeout must be > 0 and client_event_rate ≥ 0"),
        ]
    )
    func invalidSettings(app: String, message: String) {
        #expect(failure("[" + app + "]") == message)
    }

    /// `maxEventPayloadBytes` is `maxEventPayloadKB * 1024`: a limit so large that it could not
    /// be counted in bytes (or any above 64 MiB) is refused when the apps are loaded.
    @Test("a payload limit above 64 MiB is refused")
    func payloadLimitOverflow() throws {
        for kib in [Int.max / 1024 + 1, PusherApp.maxEventPayloadLimitKB + 1] {
            var app = PusherApp(id: "1", key: "k", secret: "s")
            app.maxEventPayloadKB = kib
            #expect(app.problems().contains { $0.contains("max_event_payload_kb") })
            #expect(throws: PusherAppsError.self) { try apps(#"[{"id":"1","key":"k","secret":"s","max_event_payload_kb":\#(kib)}]"#) }
        }
        var largest = PusherApp(id: "1", key: "k", secret: "s")
        largest.maxEventPayloadKB = PusherApp.maxEventPayloadLimitKB
        #expect(largest.problems().isEmpty)
    }

    @Test("every problem is reported, joined by semicolons")
    func severalProblems() {
        let message = failure(#"[{"id":"1","key":"","secret":""},{"id":"1","key":"k","secret":"s"}]"#)
        #expect(message == "app 1: key must be non-empty, without /, ?, : or spaces; app 1: secret must not be empty; app id 1 is used twice")
    }

    @Test("the default app is checked like the others")
    func invalidDefaultApp() {
        #expect(throws: PusherAppsError.self) {
            try PusherApps.load(defaultApp: PusherApp(id: "1", key: "k", secret: ""), file: nil)
        }
    }

    // MARK: Malformed files

    @Test("a file that is not JSON is refused, naming the file")
    func notJSON() {
        let message = failure("apps: [1, 2]")
        #expect(message.hasPrefix("APPS_FILE is not a JSON list of apps (id, key, secret, options): "))
        #expect {
            try PusherApps(defaultApp: Self.defaultApp, fileContents: Data("nope".utf8), name: "/etc/apps.json")
        } throws: { error in
            (error as? PusherAppsError)?.description.hasPrefix("/etc/apps.json is not a JSON list of apps") == true
        }
    }

    @Test("a missing field is named with the app's place in the list")
    func missingField() {
        let message = failure(#"[{"id":"1","key":"k","secret":"s"},{"id":"2","key":"k2"}]"#)
        #expect(message.contains("missing secret at Index 1"), "\(message)")
    }

    @Test("a value of the wrong type is named with its path")
    func wrongType() {
        let message = failure(#"[{"id":"1","key":"k","secret":"s","max_connections":"many"}]"#)
        #expect(message.hasPrefix("APPS_FILE is not a JSON list of apps"))
        #expect(message.contains("Index 0.max_connections"), "\(message)")
        let id = failure(#"[{"id":true,"key":"k","secret":"s"}]"#)
        #expect(id.contains("Index 0.id"), "\(id)")
        let fraction = failure(#"[{"id":1.5,"key":"k","secret":"s"}]"#)
        #expect(fraction.contains("Index 0.id"), "\(fraction)")
    }

    @Test("a file that is a single app, not a list, is refused")
    func singleApp() {
        #expect(failure(#"{"id":"1","key":"k","secret":"s"}"#).hasPrefix("APPS_FILE is not a JSON list of apps"))
    }

    /// With the `{"apps": [...]}` form, the error names what is wrong with the app, not the
    /// list form's failure.
    @Test("in the {\"apps\": [...]} form, a missing field is named too")
    func missingFieldInWrappedForm() {
        let message = failure(#"{"apps":[{"id":"1","key":"k","secret":"s"},{"id":"2","key":"k2"}]}"#)
        #expect(message.hasPrefix("APPS_FILE is not a JSON list of apps"))
        #expect(message.contains("missing secret"), "\(message)")
    }
}
