import Foundation

/// A demo scenario: what the autopilot does on the demo estate, as data. One directive per line:
///
///     title    Tear down payments-hsm end to end        (shown by --list)
///     caption  What happens now and why                 (the caption line above the footer)
///     key      t  enter  esc  space  Y  ctrl-r          (key names as in the keymap file)
///     type     payments-hsm                             (characters, one key each)
///     command  teardown payments-hsm                    (`:`, the text, Enter)
///     wait     Waiting: || Nothing to wait for          (until the screen shows one of the texts; `/REGEX/` matches
///                                                        a regular expression, e.g. /\bCONNECTED\b/)
///     wait-gone  Describing the key                     (until the screen no longer shows the text)
///     press-until  enter  Schedule deletion of          (press the key again every few seconds until the text shows)
///     confirm                                           (confirm the open dialog: Tab to its button, Enter, and Enter
///                                                        again while the same dialog asks again)
///     if       to acknowledge => key Y                  (a directive run only when the screen shows the text now)
///     timeout  90                                       (seconds the following waits may take; default 60)
///
/// `#` starts a comment line. Nothing waits for a fixed time: the pace (reading time of a caption, a beat between
/// keys) belongs to the player, so the same file runs at a presenter's pace and at a test's.
public struct Scenario: Sendable, Equatable {
    public var name: String
    public var title: String
    /// Where the file came from (a shipped resource or a path), for messages.
    public var source: String
    public var steps: [Step]

    public struct Step: Sendable, Equatable {
        public var line: Int
        public var directive: Directive
    }

    public indirect enum Directive: Sendable, Equatable {
        case caption(String)
        case keys([Key])
        case type(String)
        case command(String)
        case wait(anyOf: [String])
        case waitGone(String)
        case pressUntil(Key, String)
        case confirm
        case when(String, Directive)
        case timeout(Double)
    }

    /// The directive names, for the error that lists them.
    public static let directiveNames = ["title", "caption", "key", "type", "command", "wait", "wait-gone", "press-until",
                                        "confirm", "if", "timeout"]

    /// Parses a scenario file. Every problem names the line and says what the line should look like.
    public static func parse(_ text: String, name: String, source: String) throws(ScenarioError) -> Scenario {
        var title = ""
        var steps: [Step] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            let line = raw.trimmingCharacters(in: .whitespaces.union(CharacterSet(charactersIn: "\r")))
            if line.isEmpty || line.hasPrefix("#") { continue }
            func fail(_ problem: String) -> ScenarioError { ScenarioError(source: source, line: lineNumber, problem: problem) }
            let (first, rest) = split(line)
            let word = first.lowercased()
            if word == "title" {
                guard !rest.isEmpty else { throw fail("'title' needs the scenario's one-line description") }
                title = rest
                continue
            }
            steps.append(Step(line: lineNumber, directive: try directive(word, rest, fail: fail)))
        }
        guard !steps.isEmpty else {
            throw ScenarioError(source: source, line: nil, problem: "no steps: a scenario needs at least one directive (\(directiveNames.joined(separator: ", ")))")
        }
        return Scenario(name: name, title: title.isEmpty ? name : title, source: source, steps: steps)
    }

    /// Whether the screen shows `text`: a literal piece of text, or a regular expression written `/PATTERN/`
    /// (`/\bCONNECTED\b/` does not match DISCONNECTED).
    public static func shows(_ text: String, on screen: String) -> Bool {
        if let regex = regex(text) { return regex.firstMatch(in: screen, range: NSRange(screen.startIndex..., in: screen)) != nil }
        return screen.contains(text)
    }

    static func regex(_ text: String) -> NSRegularExpression? {
        guard text.count > 2, text.hasPrefix("/"), text.hasSuffix("/") else { return nil }
        return try? NSRegularExpression(pattern: String(text.dropFirst().dropLast()))
    }

    /// A screen text as written in a file: a `/PATTERN/` must compile.
    static func checked(_ text: String, fail: (String) -> ScenarioError) throws(ScenarioError) -> String {
        if text.count > 2, text.hasPrefix("/"), text.hasSuffix("/"), regex(text) == nil {
            throw fail("'\(text)' is not a valid regular expression (write literal text without the surrounding slashes)")
        }
        return text
    }

    static func split(_ line: String) -> (String, String) {
        guard let space = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { return (line, "") }
        return (String(line[..<space]), line[space...].trimmingCharacters(in: .whitespaces))
    }

    static func directive(_ word: String, _ rest: String, fail: (String) -> ScenarioError) throws(ScenarioError) -> Directive {
        func keys(_ text: String) throws(ScenarioError) -> [Key] {
            var out: [Key] = []
            for token in text.split(whereSeparator: { $0 == " " || $0 == "\t" }) {
                guard let key = Key(name: String(token)) else {
                    throw fail("unknown key '\(token)': use a character (t, Y, /) or a name (enter, esc, space, tab, up, down, left, right, pgup, pgdn, backspace, ctrl-r, f1)")
                }
                out.append(key)
            }
            return out
        }
        switch word {
        case "caption":
            guard !rest.isEmpty else { throw fail("'caption' needs the text to show") }
            return .caption(rest)
        case "key", "keys":
            guard !rest.isEmpty else { throw fail("'key' needs one or more key names, e.g. key enter or key Y") }
            return .keys(try keys(rest))
        case "type":
            guard !rest.isEmpty else { throw fail("'type' needs the text to type") }
            return .type(rest)
        case "command":
            guard !rest.isEmpty else { throw fail("'command' needs a console command without the colon, e.g. command teardown payments-hsm") }
            return .command(rest)
        case "wait":
            let texts = rest.components(separatedBy: "||").map { $0.trimmingCharacters(in: .whitespaces) }
            guard !texts.contains(where: \.isEmpty) else {
                throw fail("'wait' needs the text to wait for (alternatives separated by ||), e.g. wait Waiting: || Nothing to wait for")
            }
            var checkedTexts: [String] = []
            for t in texts { checkedTexts.append(try checked(t, fail: fail)) }
            return .wait(anyOf: checkedTexts)
        case "wait-gone":
            guard !rest.isEmpty else { throw fail("'wait-gone' needs the text that must go away") }
            return .waitGone(try checked(rest, fail: fail))
        case "press-until":
            let (keyName, text) = split(rest)
            guard !keyName.isEmpty, !text.isEmpty else { throw fail("'press-until' needs a key and a text, e.g. press-until enter Schedule deletion of") }
            return .pressUntil(try keys(keyName)[0], try checked(text, fail: fail))
        case "confirm":
            guard rest.isEmpty else { throw fail("'confirm' takes nothing after it") }
            return .confirm
        case "if":
            let parts = rest.components(separatedBy: "=>")
            guard parts.count == 2 else { throw fail("'if' needs 'TEXT => DIRECTIVE', e.g. if to acknowledge => key Y") }
            let text = parts[0].trimmingCharacters(in: .whitespaces)
            let (innerFirst, innerRest) = split(parts[1].trimmingCharacters(in: .whitespaces))
            let innerWord = innerFirst.lowercased()
            guard !text.isEmpty, !innerWord.isEmpty else { throw fail("'if' needs 'TEXT => DIRECTIVE', e.g. if to acknowledge => key Y") }
            guard innerWord != "if", innerWord != "title" else { throw fail("'if' runs one directive; '\(innerWord)' cannot follow it") }
            return .when(try checked(text, fail: fail), try directive(innerWord, innerRest, fail: fail))
        case "timeout":
            guard let seconds = Double(rest), seconds >= 1, seconds <= 3600 else {
                throw fail("'timeout' needs the seconds the following waits may take, 1 to 3600 (got '\(rest)')")
            }
            return .timeout(seconds)
        default:
            throw fail("unknown directive '\(word)' (directives: \(directiveNames.joined(separator: ", ")))")
        }
    }
}

/// A scenario file that cannot be used: the file, the line and what is wrong.
public struct ScenarioError: Error, Sendable, Equatable, CustomStringConvertible {
    public var source: String
    public var line: Int?
    public var problem: String
    public var description: String { "\(source)\(line.map { ":\($0)" } ?? ""): \(problem)" }
}

/// Where scenarios come from: the shipped ones (package resources), the user's
/// (`$XDG_CONFIG_HOME/cks/scenarios/NAME.scenario`, which override shipped ones), or a path.
public struct ScenarioCatalog: Sendable {
    public static let fileExtension = "scenario"
    /// The scenario `--autopilot` plays when none is named.
    public static let defaultName = "teardown"
    public var userDirectory: URL?

    public init(environment: [String: String]) {
        userDirectory = ConsolePaths.configDirectory(environment: environment)?.appendingPathComponent("scenarios")
    }

    /// The shipped scenarios' names, in presentation order.
    public static let shippedOrder = ["teardown", "orphaned-material", "abort", "outage"]

    /// The shipped scenarios: the package's resource bundle for this target (`…_CKSConsole.resources/Scenarios`),
    /// looked for next to the executable (symlinks resolved). Not `Bundle.module`, whose accessor stops the process
    /// when a copied binary left its bundle behind: then the catalog only lacks the shipped scenarios, and says so.
    static let shippedDirectory: URL? = {
        var places: [URL] = []
        if let exe = Bundle.main.executableURL { places.append(exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        places.append(URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent())
        places.append(Bundle.main.bundleURL)
        for place in places {
            guard let entries = try? FileManager.default.contentsOfDirectory(atPath: place.path) else { continue }
            for entry in entries.sorted() where entry.hasSuffix("_CKSConsole.resources") {
                let dir = place.appendingPathComponent(entry).appendingPathComponent("Scenarios", isDirectory: true)
                if FileManager.default.fileExists(atPath: dir.path) { return dir }
            }
        }
        return nil
    }()

    /// Said when the shipped scenarios cannot be found.
    static let missingShipped = "the shipped scenarios were not found next to the cks binary (keep the cks_CKSConsole.resources directory beside it)"

    /// Every scenario a user can name: shipped ones first (in presentation order), then the user's own.
    public func list() -> [(scenario: Scenario?, name: String, problem: String?)] {
        var names = Self.shippedDirectory == nil ? [] : Self.shippedOrder
        if let dir = Self.shippedDirectory, let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for f in files.sorted() where f.hasSuffix(".\(Self.fileExtension)") {
                let n = String(f.dropLast(Self.fileExtension.count + 1))
                if !names.contains(n) { names.append(n) }
            }
        }
        if let dir = userDirectory, let files = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for f in files.sorted() where f.hasSuffix(".\(Self.fileExtension)") {
                let n = String(f.dropLast(Self.fileExtension.count + 1))
                if !names.contains(n) { names.append(n) }
            }
        }
        return names.map { n in
            do throws(ScenarioError) {
                let scenario = try load(n)
                return (scenario, n, nil)
            } catch {
                return (nil, n, error.description)
            }
        }
    }

    /// A scenario by name (user directory, then shipped) or by path (anything with a `/` or the extension).
    public func load(_ nameOrPath: String) throws(ScenarioError) -> Scenario {
        if nameOrPath.contains("/") || nameOrPath.hasSuffix(".\(Self.fileExtension)") {
            let url = URL(fileURLWithPath: nameOrPath)
            return try read(url, name: url.deletingPathExtension().lastPathComponent, source: nameOrPath)
        }
        if let dir = userDirectory {
            let url = dir.appendingPathComponent("\(nameOrPath).\(Self.fileExtension)")
            if FileManager.default.fileExists(atPath: url.path) { return try read(url, name: nameOrPath, source: url.path) }
        }
        if let dir = Self.shippedDirectory {
            let url = dir.appendingPathComponent("\(nameOrPath).\(Self.fileExtension)")
            if FileManager.default.fileExists(atPath: url.path) {
                return try read(url, name: nameOrPath, source: "\(nameOrPath) (shipped)")
            }
        }
        let known = list().map(\.name).joined(separator: ", ")
        throw ScenarioError(source: nameOrPath, line: nil,
                            problem: "no such scenario (known: \(known.isEmpty ? "none" : known); or give a path to a .\(Self.fileExtension) file)"
                                + (Self.shippedDirectory == nil ? "; \(Self.missingShipped)" : ""))
    }

    func read(_ url: URL, name: String, source: String) throws(ScenarioError) -> Scenario {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw ScenarioError(source: source, line: nil, problem: "cannot be read (\(error.localizedDescription))")
        }
        return try Scenario.parse(text, name: name, source: source)
    }
}
