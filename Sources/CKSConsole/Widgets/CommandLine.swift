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
    /// `:proxy stop|start|status`: the demo's real XKS proxy (`cks --demo` only).
    case proxy(String)
    /// `:stores all`: every context's stores in every region.
    case allStores
    /// `:ctx` (the list) or `:ctx NAME` (open that context).
    case context(String?)
    /// `:region` (the picker) or `:region NAME` (the current context in that region).
    case region(String?)
    /// `:export csv|json FILE`: the table on screen, written to FILE.
    case export(format: String, path: String)
}

/// The `:` command line: editing, parsing and Tab completion from the live list of stores.
public struct CommandLineState: Sendable {
    public var text = ""
    /// Candidates of the last Tab, shown under the line.
    public var candidates: [String] = []

    public static let verbs = ["stores", "keys", "teardown", "theme", "activity", "proxy", "ctx", "region", "export",
                               "help", "q", "quit"]
    static let verbsWithStore: Set<String> = ["keys", "teardown"]

    public init() {}

    public mutating func type(_ ch: Character) { text.append(ch); candidates = [] }
    public mutating func backspace() { if !text.isEmpty { text.removeLast() }; candidates = [] }

    /// Completes the word being typed from the verbs or, after `keys`/`teardown` (or a unique prefix of them), from
    /// store names and ids; spaces after the verb are kept as typed.
    public mutating func complete(stores: [String], themes: [String], contexts: [String] = [], regions: [String] = []) {
        let trimmed = text.drop { $0 == " " }
        guard let space = trimmed.firstIndex(of: " ") else {
            let prefix = String(trimmed)
            let matches = Self.verbs.filter { $0.hasPrefix(prefix.lowercased()) && $0 != "quit" }
            candidates = matches.count > 1 ? matches : []
            if matches.count == 1 { text = matches[0] + " " }
            else if let common = Self.commonPrefix(matches), common.count > prefix.count { text = common }
            return
        }
        let verb = Self.resolve(String(trimmed[..<space])) ?? String(trimmed[..<space])
        let prefix = String(trimmed[trimmed.index(after: space)...].drop { $0 == " " })
        let pool: [String]
        if Self.verbsWithStore.contains(verb) { pool = stores }
        else if verb == "theme" { pool = themes }
        else if verb == "proxy" { pool = Self.proxyVerbs }
        else if verb == "ctx" { pool = contexts }
        else if verb == "region" { pool = regions }
        else if verb == "stores" { pool = ["all"] }
        else if verb == "export" { pool = ["csv", "json"] }
        else { candidates = []; return }
        let matches = pool.filter { $0.lowercased().hasPrefix(prefix.lowercased()) }
        candidates = matches.count > 1 ? matches : []
        let head = verb + " "
        if matches.count == 1 {
            text = head + matches[0]
        } else if let common = Self.commonPrefix(matches), common.count > prefix.count {
            text = head + common
        } else {
            text = head + prefix
        }
    }

    /// Every command with its argument, for errors and help.
    public static let usage = ":stores [all]  :keys STORE  :teardown STORE  :ctx [NAME]  :region [NAME]  :export csv|json FILE  :theme NAME  :activity  :proxy stop|start (demo)  :help  :q"

    /// What `:proxy` does to the demo's XKS proxy.
    static let proxyVerbs = ["stop", "start", "status"]

    /// The verb a word stands for: a verb, a short form (`s`, `k`, `h`, `q`), or a unique prefix (`:act`); nil when
    /// unknown or ambiguous.
    static func resolve(_ word: String) -> String? {
        let w = word.lowercased()
        if let short = ["s": "stores", "k": "keys", "h": "help", "q": "quit", "q!": "quit", "quit": "quit"][w] { return short }
        let matches = verbs.filter { $0.hasPrefix(w) && $0 != "q" }
        return matches.count == 1 ? matches[0] : (verbs.contains(w) ? w : nil)
    }

    static func commonPrefix(_ words: [String]) -> String? {
        guard var prefix = words.first else { return nil }
        for w in words.dropFirst() {
            while !w.lowercased().hasPrefix(prefix.lowercased()) { prefix.removeLast() }
        }
        return prefix
    }

    /// Parses the line; an error message says what is wrong and lists every command.
    public static func parse(_ line: String) -> Result<ConsoleCommand, CommandError> {
        let words = line.split(separator: " ").map(String.init)
        guard let word = words.first else { return .failure(CommandError(message: "empty command; commands: \(usage)")) }
        let arg = words.dropFirst().joined(separator: " ")
        guard let verb = resolve(word) else {
            let candidates = verbs.filter { $0.hasPrefix(word.lowercased()) && $0 != "q" }
            let why = candidates.count > 1 ? ":\(word) could be \(candidates.map { ":" + $0 }.joined(separator: " or "))"
                : "unknown command :\(word)"
            return .failure(CommandError(message: "\(why); commands: \(usage) (unique prefixes work, Tab completes)"))
        }
        switch verb {
        case "stores":
            if arg.isEmpty { return .success(.stores) }
            return arg.lowercased() == "all" ? .success(.allStores)
                : .failure(CommandError(message: ":stores takes nothing, or `all` (every context and region)"))
        case "ctx": return .success(.context(arg.isEmpty ? nil : arg))
        case "region": return .success(.region(arg.isEmpty ? nil : arg))
        case "export":
            let parts = arg.split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2, ["csv", "json"].contains(parts[0].lowercased()) else {
                return .failure(CommandError(message: ":export needs a format and a file: :export csv FILE or :export json FILE"))
            }
            return .success(.export(format: parts[0].lowercased(), path: parts[1]))
        case "keys":
            return arg.isEmpty ? .failure(CommandError(message: ":keys needs a store name or id (Tab completes)")) : .success(.keys(arg))
        case "teardown":
            return arg.isEmpty ? .failure(CommandError(message: ":teardown needs a store name or id (Tab completes)")) : .success(.teardown(arg))
        case "quit": return .success(.quit)
        case "help": return .success(.help)
        case "activity": return .success(.activity)
        case "proxy":
            if arg.isEmpty { return .success(.proxy("status")) }
            guard proxyVerbs.contains(arg.lowercased()) else {
                return .failure(CommandError(message: ":proxy needs stop, start or status (the demo's XKS proxy, cks --demo only)"))
            }
            return .success(.proxy(arg.lowercased()))
        default:
            return arg.isEmpty ? .failure(CommandError(message: ":theme needs a theme name (Tab completes)")) : .success(.theme(arg))
        }
    }
}

public struct CommandError: Error, Equatable, Sendable { public var message: String }
