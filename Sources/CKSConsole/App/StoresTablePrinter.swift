import Foundation

/// The stores as a plain text table (what `cks` prints when stdout is not a terminal, like `cks stores`).
public enum StoresTablePrinter {
    public static func render(_ stores: [StoreRecord], census: [String: KeyCensus], formatting: Formatting = Formatting()) -> String {
        let header = ["NAME", "ID", "TYPE", "STATE", "KEYS", "PENDING", "CREATED"]
        let rows = stores.map { s -> [String] in
            let c = census[s.id] ?? KeyCensus(total: 0, pendingDeletion: 0)
            return [s.name, s.id, s.type.rawValue, s.stateText, String(c.total), String(c.pendingDeletion), formatting.dateTime(s.creationDate)]
        }
        var widths = header.map { TextWidth.of($0) }
        for r in rows { for (i, cell) in r.enumerated() { widths[i] = max(widths[i], TextWidth.of(cell)) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in TextWidth.pad(c, to: widths[i], alignRight: i == 4 || i == 5) }
                .joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n") + "\n"
    }
}
