extension StringProtocol {
    /// The text without the blanks around it: what `trimmingCharacters(in: .whitespaces)`
    /// removes (tab and the Unicode space separators), without Foundation's bridging on the
    /// request path.
    func trimmingBlanks() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.isBlank }) else { return "" }
        let last = scalars.lastIndex(where: { !$0.isBlank })!
        if first == scalars.startIndex, scalars.index(after: last) == scalars.endIndex { return String(self) }
        var trimmed = String.UnicodeScalarView()
        trimmed.append(contentsOf: scalars[first...last])
        return String(trimmed)
    }
}

extension Unicode.Scalar {
    /// Tab, or a space separator (general category Zs): `CharacterSet.whitespaces`.
    fileprivate var isBlank: Bool {
        if value < 0x80 { return value == 0x20 || value == 0x09 }
        return properties.generalCategory == .spaceSeparator
    }
}
