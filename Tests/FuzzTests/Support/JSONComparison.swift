import FleetCore
import Foundation

/// Ways to compare parsed JSON looser than `==`, for properties whose two sides may spell a
/// number differently.
extension JSONValue {
    /// How many arrays and objects of one member `value` is wrapped in.
    static func depth(of value: JSONValue) -> Int {
        switch value {
        case .array(let items) where items.count == 1: 1 + depth(of: items[0])
        case .object(let members) where members.count == 1: 1 + depth(of: members.first!.value)
        case .array([]), .object([:]): 1
        default: 0
        }
    }

    /// Equal, but numbers compare by value: `-6.5e+20` and `-650000000000000000000` mean the same.
    static func sameMeaning(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.number(let x), .number(let y)):
            return x == y || Decimal(string: x).map { $0 == Decimal(string: y) } == true
        case (.array(let xs), .array(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy(sameMeaning)
        case (.object(let xs), .object(let ys)):
            return xs.count == ys.count && xs.allSatisfy { key, x in ys[key].map { sameMeaning(x, $0) } == true }
        default:
            return a == b
        }
    }

    /// Whether `JSONValue(parsing:)` read what JSONDecoder decoded: both refused, or the same
    /// value but for a number beyond 2^53 whose fraction JSONDecoder cut off (by less than 1,
    /// plus rounding).
    static func agree(_ read: JSONValue?, _ decoded: JSONValue?) -> Bool {
        guard let read, let decoded else { return read == nil && decoded == nil }
        switch (read, decoded) {
        case (.number(let x), .number(let y)):
            guard x != y else { return true }
            guard let a = Double(x), let b = Double(y), b.magnitude >= 0x1p53, !y.contains(where: { $0 == "." || $0 == "e" }) else {
                return false
            }
            return (a - b).magnitude <= 1 + b.ulp
        case (.array(let xs), .array(let ys)):
            return xs.count == ys.count && zip(xs, ys).allSatisfy(agree)
        case (.object(let xs), .object(let ys)):
            return xs.count == ys.count && xs.allSatisfy { key, x in agree(x, ys[key]) }
        default:
            return read == decoded
        }
    }
}
