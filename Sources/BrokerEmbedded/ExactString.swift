/// A string compared and hashed by its UTF-8 bytes, as Redis compares keys, fields,
/// members, values and channel names.
///
/// Swift's `String` equality is Unicode canonical equivalence (`"é" == "e\u{301}"`), so a
/// `[String: …]` keyspace would merge keys that Redis keeps apart.
struct ExactString: Hashable, Sendable, CustomStringConvertible {
    let string: String

    init(_ string: String) {
        self.string = string
    }

    static func == (lhs: ExactString, rhs: ExactString) -> Bool {
        lhs.string.utf8.elementsEqual(rhs.string.utf8)
    }

    func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    var description: String { string }
}

extension String {
    /// Whether both strings have exactly the same UTF-8 bytes (no Unicode equivalence).
    func isIdentical(to other: String) -> Bool {
        utf8.elementsEqual(other.utf8)
    }
}
