import Foundation
import Testing
@testable import CKSConsole

/// The README's key table ("The console") and the keymap's defaults say the same thing.
@Suite struct ReadmeKeyTableTests {
    /// The keys named in the table's first column, row by row (`↑/↓, j/k` → up, down, j, k).
    static func readmeRows() throws -> [(cell: String, keys: [Key])] {
        let readme = try String(contentsOf: Locations.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let lines = readme.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let header = try #require(lines.firstIndex(of: "| key | action |"), "README has no key table")
        var rows: [(String, [Key])] = []
        for line in lines[(header + 2)...] {
            guard line.hasPrefix("| ") else { break }
            let cell = line.dropFirst(2).components(separatedBy: " | ")[0]
            var keys: [Key] = []
            for token in cell.components(separatedBy: ", ").flatMap({ $0.components(separatedBy: " / ") }) {
                let parts = token.count > 1 && token.contains("/") ? token.components(separatedBy: "/") : [token]
                for part in parts {
                    let name = ["↑": "up", "↓": "down"][part] ?? part
                    if name.lowercased() == "ctrl-c" { continue }   // always quits, outside the keymap
                    keys.append(try #require(Key(name: name), "README names an unknown key \"\(part)\" in \"\(cell)\""))
                }
            }
            rows.append((cell, keys))
        }
        return rows
    }

    @Test("every key in the README's table is bound by default")
    func readmeKeysAreBound() throws {
        let rows = try Self.readmeRows()
        #expect(!rows.isEmpty)
        for (cell, keys) in rows {
            for key in keys {
                #expect(Keymap.defaults.bindings.contains { $0.keys.contains(key) },
                        "README row \"\(cell)\": \(key.name) is not bound by default")
            }
        }
    }

    @Test("every default binding outside the teardown screen has a key in the README's table")
    func defaultBindingsAreDocumented() throws {
        let documented = Set(try Self.readmeRows().flatMap(\.keys))
        for binding in Keymap.defaults.bindings where binding.screens != [.teardown] {
            #expect(binding.keys.contains(where: documented.contains),
                    "\(binding.action.rawValue) (\(binding.keys.map(\.name).joined(separator: ", "))) is missing from the README's key table")
        }
    }
}
