/// A parsed Prometheus text exposition (format 0.0.4), strict enough to fail a test on
/// output a Prometheus server would reject: every sample line is `name{labels} value`,
/// names and label names are valid, `# TYPE` names a known type once per family, and a
/// histogram's buckets are cumulative and end in `+Inf` equal to its `_count`.
package struct PrometheusText: Sendable {
    package struct Sample: Sendable, Hashable {
        package var name: String
        package var labels: [String: String]
        package var value: Double
    }

    package private(set) var samples: [Sample] = []
    /// Each family's type, by family name.
    package private(set) var types: [String: String] = [:]

    package struct ParseError: Error, CustomStringConvertible {
        package let description: String
    }

    package init(parsing text: String) throws {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            let line = String(raw)
            func fail(_ why: String) -> ParseError { ParseError(description: "line \(index + 1): \(why): \(line)") }
            if line.hasPrefix("#") {
                let parts = line.split(separator: " ", maxSplits: 3).map(String.init)
                if parts.count >= 2, parts[1] == "TYPE" {
                    guard parts.count == 4, Self.isName(parts[2]) else { throw fail("malformed TYPE") }
                    guard ["counter", "gauge", "histogram", "summary", "untyped"].contains(parts[3]) else { throw fail("unknown type") }
                    guard types[parts[2]] == nil else { throw fail("second TYPE for a family") }
                    types[parts[2]] = parts[3]
                }
                continue
            }
            samples.append(try Self.sample(line, fail: fail))
        }
        try checkHistograms()
    }

    /// The value of the sample `name` whose labels include `labels`, if exactly one matches.
    package func value(_ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matching = samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }
        return matching.count == 1 ? matching[0].value : nil
    }

    /// The sum of every sample `name` whose labels include `labels` (0 when none).
    package func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples.filter { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }

    static func isName(_ text: String) -> Bool {
        func isLetter(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == ":" }
        guard let first = text.unicodeScalars.first, isLetter(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLetter($0) || ("0"..."9").contains($0) }
    }

    private static func sample(_ line: String, fail: (String) -> ParseError) throws -> Sample {
        var rest = Substring(line)
        let name = String(rest.prefix { $0 != "{" && $0 != " " })
        guard isName(name) else { throw fail("bad metric name") }
        rest = rest.dropFirst(name.count)
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                let key = String(rest.prefix { $0 != "=" })
                guard isName(key), !key.contains(":") else { throw fail("bad label name") }
                rest = rest.dropFirst(key.count)
                guard rest.hasPrefix("=\"") else { throw fail("label without a quoted value") }
                rest = rest.dropFirst(2)
                var value = ""
                while let character = rest.first, character != "\"" {
                    rest = rest.dropFirst()
                    if character == "\\" {
                        guard let escaped = rest.first else { throw fail("dangling escape") }
                        rest = rest.dropFirst()
                        switch escaped {
                        case "n": value.append("\n")
                        case "\\", "\"": value.append(escaped)
                        default: throw fail("bad escape")
                        }
                    } else {
                        value.append(character)
                    }
                }
                guard rest.first == "\"" else { throw fail("unterminated label value") }
                rest = rest.dropFirst()
                guard labels.updateValue(value, forKey: key) == nil else { throw fail("repeated label") }
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { throw fail("unterminated labels") }
            }
            rest = rest.dropFirst()
        }
        guard rest.first == " " else { throw fail("no space before the value") }
        let fields = rest.split(separator: " ")
        guard (1...2).contains(fields.count) else { throw fail("bad value") }
        let text = String(fields[0])
        let value: Double
        switch text {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let number = Double(text) else { throw fail("value is not a number") }
            value = number
        }
        return Sample(name: name, labels: labels, value: value)
    }

    private func checkHistograms() throws {
        for (family, type) in types where type == "histogram" {
            let buckets = samples.filter { $0.name == family + "_bucket" }
            let series = Dictionary(grouping: buckets) { $0.labels.filter { $0.key != "le" } }
            for (labels, buckets) in series {
                let ordered = try buckets.map { bucket -> (Double, Double) in
                    guard let le = bucket.labels["le"], let bound = le == "+Inf" ? .infinity : Double(le) else {
                        throw ParseError(description: "\(family): bucket without a valid le")
                    }
                    return (bound, bucket.value)
                }.sorted { $0.0 < $1.0 }
                guard ordered.last?.0 == .infinity else { throw ParseError(description: "\(family)\(labels): no +Inf bucket") }
                for (lower, upper) in zip(ordered, ordered.dropFirst()) where upper.1 < lower.1 {
                    throw ParseError(description: "\(family)\(labels): buckets are not cumulative")
                }
                let count = samples.first { $0.name == family + "_count" && $0.labels == labels }?.value
                guard count == ordered.last?.1 else { throw ParseError(description: "\(family)\(labels): _count differs from the +Inf bucket") }
            }
        }
    }
}
