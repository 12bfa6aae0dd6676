import Foundation

/// A command of the `:` line.
public enum ConsoleCommand: Equatable, Sendable {
    case stores
    case keys(String)
    case teardown(String)
    case quit
    case help
    case activity
    case theme(String)
}

/// The `:` command line: editing, parsing and Tab completion from the live list of stores.
public struct CommandLineState: Sendable {
    public var text = ""
    /// Candidates of the last Tab, shown under the line.
    public var candidates: [String] = []

    public static let verbs = ["stores", "keys", "teardown", "theme", "activity", "help", "q", "quit"]
    static let verbsWithStore: Set<String> = ["keys", "teardown"]

    public init() {}

    public mutating func type(_ ch: Character) { text.append(ch); candidates = [] }
    public mutating func backspace() { if !text.isEmpty { text.removeLast() }; candidates = [] }

    /// Completes the word being typed from the verbs or, after `keys`/`teardown`, from store names and ids.
    public mutating func complete(stores: [String], themes: [String]) {
        let parts = text.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
        let pool: [String]
        let prefix: String
        if parts.count <= 1 {
            pool = Self.verbs
            prefix = parts.first ?? ""
        } else if Self.verbsWithStore.contains(parts[0]) {
            pool = stores
            prefix = parts.dropFirst().joined(separator: " ")
        } else if parts[0] == "theme" {
            pool = themes
            prefix = parts.dropFirst().joined(separator: " ")
        } else {
            candidates = []
            return
        }
        let matches = pool.filter { $0.lowercased().hasPrefix(prefix.lowercased()) }
        candidates = matches.count > 1 ? matches : []
        let head = parts.count <= 1 ? "" : parts[0] + " "
        if matches.count == 1 {
            text = head + matches[0] + (parts.count <= 1 ? " " : "")
        } else if let common = Self.commonPrefix(matches), common.count > prefix.count {
            text = head + common
        }
    }

    static func commonPrefix(_ words: [String]) -> String? {
        guard var prefix = words.first else { return nil }
        for w in words.dropFirst() {
            while !w.lowercased().hasPrefix(prefix.lowercased()) { prefix.removeLast() }
        }
        return prefix
    }

    /// Parses the line; an error message says what is wrong.
    public static func parse(_ line: String) -> Result<ConsoleCommand, CommandError> {
        let words = line.split(separator: " ").map(String.init)
        guard let verb = words.first else { return .failure(CommandError(message: "empty command")) }
        let arg = words.dropFirst().joined(separator: " ")
        switch verb {
        case "stores", "s": return .success(.stores)
        case "keys", "k":
            return arg.isEmpty ? .failure(CommandError(message: ":keys needs a store name or id (Tab completes)")) : .success(.keys(arg))
        case "teardown":
            return arg.isEmpty ? .failure(CommandError(message: ":teardown needs a store name or id")) : .success(.teardown(arg))
        case "q", "quit", "q!": return .success(.quit)
        case "help", "h": return .success(.help)
        case "activity": return .success(.activity)
        case "theme":
            return arg.isEmpty ? .failure(CommandError(message: ":theme needs a theme name")) : .success(.theme(arg))
        default:
            return .failure(CommandError(message: "unknown command :\(verb) (try :stores, :keys STORE, :teardown STORE, :q)"))
        }
    }
}

public struct CommandError: Error, Equatable, Sendable { public var message: String }
