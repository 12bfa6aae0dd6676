import Foundation

/// The order people read names in: letters case-insensitively, runs of digits by value ("card-2" before
/// "card-10"), as `localizedStandardCompare` orders them. ASCII text is compared byte by byte here: sorting a
/// 100,000-key store by alias with Foundation's locale-aware compare (which builds locale objects per call) took
/// most of the console's CPU while the store loaded. Text with other characters goes to
/// `localizedStandardCompare`.
public enum NaturalOrder {
    public static func less(_ a: String, _ b: String) -> Bool { compare(a, b) < 0 }

    /// Negative, zero or positive as `a` sorts before, with or after `b`.
    public static func compare(_ a: String, _ b: String) -> Int {
        var a = a, b = b
        let fast: Int? = a.withUTF8 { pa in b.withUTF8 { pb in asciiCompare(pa, pb) } }
        if let fast { return fast }
        switch a.localizedStandardCompare(b) {
        case .orderedAscending: return -1
        case .orderedDescending: return 1
        case .orderedSame: return 0
        }
    }

    /// nil when either text has a non-ASCII byte before the order is decided.
    static func asciiCompare(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int? {
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        // Punctuation before digits before letters (case-insensitive), as the locale-aware compare has it.
        func rank(_ c: UInt8) -> Int {
            if isDigit(c) { return 0x100 + Int(c) }
            if c >= 0x41 && c <= 0x5A { return 0x200 + Int(c | 0x20) }
            if c >= 0x61 && c <= 0x7A { return 0x200 + Int(c) }
            return Int(c)
        }
        var i = 0, j = 0
        while i < a.count && j < b.count {
            let (ca, cb) = (a[i], b[j])
            if ca >= 0x80 || cb >= 0x80 { return nil }
            if isDigit(ca) && isDigit(cb) {
                // Compare the numbers' values: skip leading zeros, then the longer run is larger.
                while i < a.count && a[i] == 0x30 { i += 1 }
                while j < b.count && b[j] == 0x30 { j += 1 }
                var ei = i, ej = j
                while ei < a.count && isDigit(a[ei]) { ei += 1 }
                while ej < b.count && isDigit(b[ej]) { ej += 1 }
                if ei - i != ej - j { return ei - i < ej - j ? -1 : 1 }
                for k in 0..<(ei - i) where a[i + k] != b[j + k] { return a[i + k] < b[j + k] ? -1 : 1 }
                i = ei; j = ej
                continue
            }
            let (la, lb) = (rank(ca), rank(cb))
            if la != lb { return la < lb ? -1 : 1 }
            i += 1; j += 1
        }
        // Anything left must be ASCII for the answer to stand.
        if a[i...].contains(where: { $0 >= 0x80 }) || b[j...].contains(where: { $0 >= 0x80 }) { return nil }
        let (ra, rb) = (a.count - i, b.count - j)
        return ra == rb ? 0 : (ra < rb ? -1 : 1)
    }
}
