import Foundation
import Testing

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny generator whose sequence depends on its
/// seed alone, so a failing seed replays the same inputs.
struct FuzzRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE5_E4B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in `range`.
    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    /// True with probability `percent` / 100.
    mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

    /// One of `items`, which must not be empty.
    mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

    /// `count` bytes, each uniformly random.
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255, using: &self) } }

    /// `count` bytes drawn from `alphabet`, the characters a grammar is made of.
    mutating func bytes(_ count: Int, from alphabet: [UInt8]) -> [UInt8] { (0..<count).map { _ in pick(alphabet) } }

    /// A length that is mostly small and sometimes long: the shape of useful fuzz input.
    mutating func length() -> Int {
        switch int(0...9) {
        case 0...5: int(0...16)
        case 6...8: int(0...128)
        default: int(0...2048)
        }
    }

    /// Text of `count` unicode scalars, most of them ASCII, with NUL, controls, quotes,
    /// separators, accents, emoji and the highest scalars mixed in.
    mutating func text(_ count: Int) -> String {
        var scalars = String.UnicodeScalarView()
        for _ in 0..<count {
            let value: UInt32 =
                switch int(0...9) {
                case 0...4: UInt32(int(0x20...0x7E))
                case 5: pick([0, 0x09, 0x0A, 0x0D, 0x1F, 0x7F])
                case 6: UInt32(pick(Array("\"\\,&=[]{}%+:. ".unicodeScalars)).value)
                case 7: UInt32(int(0x80...0x7FF))
                case 8: pick([0xA0, 0x200B, 0x2028, 0x3000, 0xFEFF, 0xFFFD, 0xFFFF, 0x1F600, 0x10FFFF, 0x301])
                default: UInt32(int(0xE000...0x10FFFF))
                }
            scalars.append(Unicode.Scalar(value) ?? "?")
        }
        return String(scalars)
    }
}

/// The seeds every property runs with: a fixed list, so a run is reproducible, plus one new
/// seed per run, so runs keep exploring. `FUZZ_SEED=<n>` replays the one seed a failure named.
enum FuzzSeeds {
    static let all: [UInt64] = {
        if let replay = ProcessInfo.processInfo.environment["FUZZ_SEED"].flatMap({ UInt64($0) }) {
            return [replay]
        }
        return [1, 0xDEAD_BEEF, 20_261_202, UInt64.random(in: 0...UInt64.max)]
    }()
}

/// All fuzzing suites, run one test at a time: they only compute, and in parallel they would
/// take every core from the suite's tests that wait on timers and sockets.
@Suite("Fuzzing", .serialized, .timeLimit(.minutes(1)))
struct FuzzTests {}

/// Gives the cooperative threads back every few inputs. A fuzz loop never waits, so without
/// this it would hold the threads the rest of the suite's tests run on until it ends.
func yieldPeriodically(_ index: Int) async {
    if index % 32 == 31 { await Task.yield() }
}
