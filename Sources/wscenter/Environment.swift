import Foundation
import Synchronization

/// Reads an environment variable, treating an empty value as unset.
func environment(_ name: String) -> String? {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return nil }
    return value
}

/// Typed environment variables for option defaults. An option's default is computed before
/// validation can throw, so a value that does not parse is recorded here and refused by
/// ``CommonOptions/validate()``, naming the variable: `PORT=abc` stops the process, it never
/// silently becomes 8090.
enum Environment {
    private static let problems = Mutex<[String]>([])

    /// `name` parsed as `T`, or `fallback` when unset; a value that does not parse is recorded
    /// (and `fallback` returned until validation refuses it).
    static func value<T: LosslessStringConvertible>(_ name: String, _ fallback: T) -> T {
        guard let text = environment(name) else { return fallback }
        if let value = T(text.trimmingCharacters(in: .whitespaces)) { return value }
        record("\(name)=\(text) is not \(T.self == Int.self ? "a whole number" : "a number")")
        return fallback
    }

    /// `name` as a boolean (`true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`), or `fallback`.
    static func flag(_ name: String, _ fallback: Bool) -> Bool {
        guard let text = environment(name) else { return fallback }
        if let value = parseFlag(text) { return value }
        record("\(name)=\(text) is not true or false")
        return fallback
    }

    /// "1", "true", "yes", "on" → true; "0", "false", "no", "off" → false; else nil.
    static func parseFlag(_ text: String) -> Bool? {
        switch text.trimmingCharacters(in: .whitespaces).lowercased() {
        case "1", "true", "yes", "on": true
        case "0", "false", "no", "off": false
        default: nil
        }
    }

    static func record(_ problem: String) {
        problems.withLock { $0.append(problem) }
    }

    /// The values recorded as unparsable, in the order read.
    static var unparsable: [String] { problems.withLock { $0 } }
}
