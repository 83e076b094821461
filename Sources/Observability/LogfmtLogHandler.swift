import FleetCore
import Foundation
import Logging

/// Writes one logfmt line per log event to standard error:
/// `ts=2026-12-01T15:35:23.123Z level=info role=node node=3f… msg="node listening" port=8090`.
/// `role` and `node` (when set) come first, then the other fields sorted by key; values with
/// spaces, quotes, `=` or control characters are quoted and escaped.
package struct LogfmtLogHandler: LogHandler {
    package var logLevel: Logger.Level = .info
    package var metadata: Logger.Metadata = [:]
    package var metadataProvider: Logger.MetadataProvider?
    private let write: @Sendable (String) -> Void

    /// A handler writing to standard error.
    package static func standardError(label: String) -> LogfmtLogHandler {
        LogfmtLogHandler { line in
            // One write(2) per line: lines from concurrent tasks do not interleave.
            var line = line
            line.withUTF8 { bytes in
                var offset = 0
                while offset < bytes.count {
                    let written = Foundation.write(STDERR_FILENO, bytes.baseAddress! + offset, bytes.count - offset)
                    if written <= 0 { return }
                    offset += written
                }
            }
        }
    }

    /// A handler handing each line (newline included) to `write`.
    package init(write: @escaping @Sendable (String) -> Void) {
        self.write = write
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    package func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, new in new } }
        if let explicit = event.metadata { fields.merge(explicit) { _, new in new } }
        if let error = event.error, fields["error"] == nil { fields["error"] = "\(error)" }
        write(Self.format(date: Date(), level: event.level, message: event.message.description, fields: fields))
    }

    /// One line (with its newline) for an event.
    package static func format(date: Date, level: Logger.Level, message: String, fields: Logger.Metadata) -> String {
        var line = "ts=" + timestamp(date) + " level=" + level.rawValue
        for key in ["role", "node"] {
            if let value = fields[key] { line += " " + key + "=" + quoted("\(value)") }
        }
        line += " msg=" + quoted(message)
        for key in fields.keys.sorted() where key != "role" && key != "node" {
            line += " " + key + "=" + quoted("\(fields[key]!)")
        }
        return line + "\n"
    }

    /// `value` as logfmt writes it: bare when it is a plain token, quoted otherwise.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { scalar in
            scalar.value > 0x20 && scalar.value != 0x7F && scalar != "\"" && scalar != "=" && scalar != "\\"
        }
        if plain { return value }
        var out = ""
        JSONValue.appendString(value, to: &out)
        return out
    }

    /// RFC 3339 in UTC with milliseconds.
    static func timestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(
            format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
            Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
            Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(milliseconds % 1000)
        )
    }
}
