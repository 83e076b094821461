import BrokerCore
import Testing

/// Expected answers were taken from a real Redis 7.0.15 (`SET <string>` then `KEYS <pattern>`),
/// so these cases pin the embedded broker to Redis's `stringmatchlen`.
@Suite struct GlobPatternTests {
    static let cases: [(pattern: String, string: String, matches: Bool)] = [
        ("", "", true),
        ("", "a", false),
        ("a", "", false),
        ("abc", "abc", true),
        ("abc", "abd", false),
        ("abc", "ab", false),
        ("ab", "abc", false),
        ("ABC", "abc", false),
        ("*", "a", true),
        ("*", "abc", true),
        ("**", "", false),
        ("a*", "a", true),
        ("a*", "abc", true),
        ("a*", "ba", false),
        ("*a", "a", true),
        ("*a", "ba", true),
        ("*a", "ab", false),
        ("a*c", "ac", true),
        ("a*c", "abbbc", true),
        ("a*c", "abbbd", false),
        ("*b*", "abc", true),
        ("*b*", "ac", false),
        ("a**b", "ab", true),
        ("a*?", "a", false),
        ("a*?", "ab", true),
        ("a*", "", false),
        ("*a*", "a", true),
        ("*?", "a", true),
        ("*??", "a", false),
        ("user:*:name", "user:42:name", true),
        ("user:*:name", "user:42:age", false),
        ("*:*", "a:b", true),
        ("*:*", ":", true),
        ("h*llo", "hllo", true),
        ("h*llo", "heeeello", true),
        ("wsc:node:*", "wsc:node:abc", true),
        ("wsc:node:*", "wsc:nodes", false),
        ("*/*", "a/b/c", true),
        ("?", "", false),
        ("?", "a", true),
        ("?", "ab", false),
        ("h?llo", "hello", true),
        ("h?llo", "hllo", false),
        ("?*", "a", true),
        ("??*", "a", false),
        ("h[ae]llo", "hello", true),
        ("h[ae]llo", "hallo", true),
        ("h[ae]llo", "hillo", false),
        ("h[^e]llo", "hallo", true),
        ("h[^e]llo", "hello", false),
        ("h[a-b]llo", "hbllo", true),
        ("h[a-b]llo", "hcllo", false),
        ("h[b-a]llo", "hallo", true),
        ("h[z-x]", "hy", true),
        ("h[z-x]", "hw", false),
        ("[a-]", "]", true),
        ("[a-]", "^", true),
        ("[a-]", "b", false),
        ("[a-]", "-", false),
        ("[a-c-e]", "d", false),
        ("[a-c-e]", "-", true),
        ("[a-c-e]", "e", true),
        ("[]", "]", false),
        ("[]", "a", false),
        ("[]a]", "a", false),
        ("[]a]", "]a]", false),
        ("[^]", "x", true),
        ("[^]a", "xa", true),
        ("[^]", "", false),
        ("[", "[", false),
        ("[", "a", false),
        ("[^", "a", true),
        ("[^", "^", true),
        ("[abc", "b", true),
        ("[abc", "d", false),
        ("x[abc", "xc", true),
        ("[a-", "a", true),
        ("[a-", "-", true),
        ("[\\]]", "]", true),
        ("[\\]]", "\\", false),
        ("[\\-a]", "-", true),
        ("[\\-a]", "b", false),
        ("[a\\-z]", "b", false),
        ("[a\\-z]", "-", true),
        ("[a\\-z]", "z", true),
        ("[-a]", "-", true),
        ("[\\", "\\", true),
        ("[\\", "a", false),
        ("[a\\]", "\\", false),
        ("[a\\]", "]", true),
        ("[^a-z]", "A", true),
        ("[^a-z]", "m", false),
        ("[0-9]*", "7up", true),
        ("[0-9]*", "up", false),
        ("[[]", "[", true),
        ("[*]", "*", true),
        ("[*]", "a", false),
        ("[?]", "?", true),
        ("[?]", "a", false),
        ("[^^]", "^", false),
        ("[^^]", "a", true),
        ("[a^]", "^", true),
        ("a[bc]*[de]", "abxxd", true),
        ("a[bc]*[de]", "axxd", false),
        ("\\*", "*", true),
        ("\\*", "a", false),
        ("\\?", "?", true),
        ("\\?", "a", false),
        ("\\[a]", "[a]", true),
        ("\\[a]", "a", false),
        ("\\\\", "\\", true),
        ("\\", "\\", true),
        ("a\\", "a\\", true),
        ("\\a", "a", true),
        ("a\\*b", "a*b", true),
        ("a\\*b", "axb", false),
        ("*\\*", "ab*", true),
        ("*\\*", "ab", false),
        ("用户:*", "用户:42", true),
        ("*🎉", "party🎉", true),
        ("🎉", "🎉", true),
        ("?", "🎉", false),
        ("????", "🎉", true),
        ("*é*", "café", true),
        ("caf?", "café", false),
        ("caf??", "café", true),
        ("[é]", "é", false),
        ("[é][é]", "é", true),
        ("[^a]*", "é", true),
    ]

    @Test(arguments: cases)
    func matchesLikeRedis(pattern: String, string: String, matches: Bool) {
        #expect(GlobPattern(pattern).matches(string) == matches, "pattern \(pattern) on \(string)")
    }

    @Test func starMatchesEveryNonEmptyString() {
        let star = GlobPattern("*")
        for string in ["a", "wsc:node:1", " ", "🎉", String(repeating: "x", count: 10_000)] {
            #expect(star.matches(string))
        }
        // Redis's matcher never matches the empty string with `*`; `SCAN MATCH *` short-circuits.
        #expect(!star.matches(""))
        #expect(GlobPattern("").matches(""))
    }

    /// The shape behind Redis CVE-2022-36021: without bounded backtracking this takes
    /// exponential time. Asserts on the answers; a regression shows up as a hung test.
    @Test func pathologicalPatternsFinish() {
        let stars = String(repeating: "a*", count: 200) + "b"
        let subject = String(repeating: "a", count: 5_000)
        #expect(!GlobPattern(stars).matches(subject))
        #expect(GlobPattern(stars).matches(subject + "b"))

        let leading = "*" + String(repeating: "a*", count: 200) + "c"
        #expect(!GlobPattern(leading).matches(subject + "b"))
        #expect(GlobPattern(leading).matches(subject + "c"))

        let classes = String(repeating: "*[ab]", count: 100) + "?c"
        #expect(!GlobPattern(classes).matches(String(repeating: "ab", count: 2_000)))
        #expect(GlobPattern(classes).matches(String(repeating: "ab", count: 2_000) + "xc"))
    }

    /// More stars than Redis's recursion cutoff (1,000): still matched correctly here.
    @Test func manyStarsStillMatch() {
        let pattern = String(repeating: "x*", count: 2_000)
        #expect(GlobPattern(pattern).matches(String(repeating: "x", count: 2_000)))
        #expect(!GlobPattern(pattern).matches(String(repeating: "x", count: 1_999)))
    }

    @Test func equalityAndHashingFollowThePatternText() {
        #expect(GlobPattern("a*") == GlobPattern("a*"))
        #expect(GlobPattern("a*") != GlobPattern("a**"))
        #expect(Set([GlobPattern("a*"), GlobPattern("a*"), GlobPattern("b")]).count == 2)
        #expect(GlobPattern("user:[0-9]*").pattern == "user:[0-9]*")
        #expect(GlobPattern("user:[0-9]*").description == "user:[0-9]*")
    }

    @Test func matchesBytesNotCharacters() {
        // "é" is two UTF-8 bytes and "🎉" four, as Redis sees them.
        #expect(GlobPattern("caf??").matches("café"))
        #expect(!GlobPattern("caf?").matches("café"))
        #expect(GlobPattern("????").matches("🎉"))
        // A precomposed and a decomposed "é" are different bytes: no Unicode normalisation.
        #expect(!GlobPattern("caf\u{E9}").matches("cafe\u{301}"))
    }
}
