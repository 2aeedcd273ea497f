import Foundation

/// `v` as an integer when it is a JSON number with an integral value of magnitude below 9e15
/// (exact in a double); nil for fractions, huge values and anything else. `NSNumber.intValue`
/// would truncate 384.7 to 384 and turn 1e300 into an arbitrary integer.
func exactInteger(_ v: Any) -> Int? {
    if let n = v as? NSNumber {
        let d = n.doubleValue
        guard d == d.rounded(), abs(d) < 9e15 else { return nil }
        return n.intValue
    }
    return v as? Int
}
