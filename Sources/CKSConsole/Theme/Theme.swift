import Foundation

/// Colours available on the terminal, decided once at start (NO_COLOR and terminfo's COLORS).
public enum ColorDepth: String, Sendable, Hashable {
    case mono, eight, sixteen, full256 = "256"
}

/// A foreground/background pair plus attributes. Colour -1 is the terminal's own colour.
public struct ColorSpec: Hashable, Sendable {
    public var foreground: Int
    public var background: Int
    public var attributes: TextAttributes
    public init(foreground: Int = -1, background: Int = -1, attributes: TextAttributes = []) {
        self.foreground = foreground; self.background = background; self.attributes = attributes
    }
}

/// One role of a theme: the 256-colour value, the 16-colour fallback, and the monochrome attributes.
public struct RoleStyle: Hashable, Sendable {
    public var color256: ColorSpec
    public var color16: ColorSpec
    public var mono: TextAttributes
}

/// What a cell finally looks like on a terminal of a given depth.
public struct ResolvedStyle: Hashable, Sendable, CustomStringConvertible {
    public var foreground: Int
    public var background: Int
    public var attributes: TextAttributes
    public var description: String {
        func c(_ v: Int) -> String { v < 0 ? "default" : String(v) }
        return "\(c(foreground))/\(c(background)) \(attributes.listing)"
    }
}

/// A parsed theme: every role has a style (roles a file leaves out come from `default`).
public struct Theme: Sendable {
    public var name: String
    public var description: String
    public var styles: [Role: RoleStyle]

    /// The style of `role` on a terminal of `depth`, with `extra` attributes added.
    public func resolve(_ role: Role, depth: ColorDepth, extra: TextAttributes = []) -> ResolvedStyle {
        let s = styles[role] ?? styles[.normal] ?? RoleStyle(color256: ColorSpec(), color16: ColorSpec(), mono: [])
        switch depth {
        case .mono:
            return ResolvedStyle(foreground: -1, background: -1, attributes: s.mono.union(extra))
        case .full256:
            return ResolvedStyle(foreground: s.color256.foreground, background: s.color256.background,
                                 attributes: s.color256.attributes.union(extra))
        case .sixteen:
            return ResolvedStyle(foreground: s.color16.foreground, background: s.color16.background,
                                 attributes: s.color16.attributes.union(extra))
        case .eight:
            // Bright colours do not exist: the base colour, made bold when it is the foreground.
            var attrs = s.color16.attributes.union(extra)
            var fg = s.color16.foreground
            if fg >= 8 { fg -= 8; attrs.insert(.bold) }
            let bg = s.color16.background >= 8 ? s.color16.background - 8 : s.color16.background
            return ResolvedStyle(foreground: fg, background: bg, attributes: attrs)
        }
    }
}

/// A theme file that could not be read: names the file, the line and the problem.
public struct ThemeError: Error, Sendable, CustomStringConvertible, Equatable {
    public var file: String
    public var line: Int
    public var problem: String
    public var description: String { line > 0 ? "\(file):\(line): \(problem)" : "\(file): \(problem)" }
}

/// Reads the theme format documented in themes/README.md.
public enum ThemeParser {
    static let colorNames: [String: Int] = [
        "black": 0, "red": 1, "green": 2, "yellow": 3, "blue": 4, "magenta": 5, "cyan": 6, "white": 7,
        "gray": 8, "grey": 8, "bright-black": 8, "bright-red": 9, "bright-green": 10, "bright-yellow": 11,
        "bright-blue": 12, "bright-magenta": 13, "bright-cyan": 14, "bright-white": 15,
    ]

    /// Parses `text` (the contents of `file`). Roles the file leaves out are taken from `base`.
    public static func parse(_ text: String, file: String, base: Theme? = nil) throws(ThemeError) -> Theme {
        var name = (file as NSString).lastPathComponent
        if name.hasSuffix(".theme") { name = String(name.dropLast(6)) }
        var description = ""
        var styles = base?.styles ?? [:]
        var seen = Set<Role>()
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        for (index, rawLine) in lines.enumerated() {
            let lineNo = index + 1
            var line = String(rawLine)
            if let hash = line.firstIndex(of: "#") { line = String(line[..<hash]) }
            line = line.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw ThemeError(file: file, line: lineNo, problem: "expected `role = 256 | 16 | mono`, found \"\(line)\"")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if key == "description" { description = value; continue }
            if key == "name" { name = value; continue }
            guard let role = Role(rawValue: key) else {
                throw ThemeError(file: file, line: lineNo, problem: "unknown role \"\(key)\" (roles are listed in themes/README.md)")
            }
            if seen.contains(role) {
                throw ThemeError(file: file, line: lineNo, problem: "role \"\(key)\" is set twice")
            }
            seen.insert(role)
            let parts = value.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 3 else {
                throw ThemeError(file: file, line: lineNo, problem: "role \"\(key)\" needs three parts separated by | (256-colour, 16-colour, mono), found \(parts.count)")
            }
            do {
                let c256 = try spec(parts[0], palette: 255)
                let c16 = try spec(parts[1], palette: 15)
                let mono = try attributes(parts[2].split(separator: " ").map(String.init))
                styles[role] = RoleStyle(color256: c256, color16: c16, mono: mono)
            } catch let problem as SpecProblem {
                throw ThemeError(file: file, line: lineNo, problem: "role \"\(key)\": \(problem.text)")
            } catch {
                throw ThemeError(file: file, line: lineNo, problem: "role \"\(key)\": \(error)")
            }
        }
        if styles[.normal] == nil {
            throw ThemeError(file: file, line: 0, problem: "the role \"normal\" is missing")
        }
        for role in Role.allCases where styles[role] == nil {
            throw ThemeError(file: file, line: 0, problem: "the role \"\(role.rawValue)\" is missing")
        }
        return Theme(name: name, description: description, styles: styles)
    }

    struct SpecProblem: Error { var text: String }

    /// `FG[/BG] [attr...]`, or `-` for "terminal colours, no attributes".
    static func spec(_ text: String, palette: Int) throws -> ColorSpec {
        let words = text.split(separator: " ").map(String.init)
        guard let first = words.first else { throw SpecProblem(text: "a colour part is empty (write `default` or `-`)") }
        if first == "-" { return ColorSpec(attributes: try attributes(Array(words.dropFirst()))) }
        let pair = first.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard pair.count <= 2 else { throw SpecProblem(text: "\"\(first)\" is not FG or FG/BG") }
        let fg = try color(pair[0], palette: palette)
        let bg = pair.count == 2 ? try color(pair[1], palette: palette) : -1
        return ColorSpec(foreground: fg, background: bg, attributes: try attributes(Array(words.dropFirst())))
    }

    static func color(_ word: String, palette: Int) throws -> Int {
        let w = word.lowercased()
        if w == "default" || w.isEmpty { return -1 }
        if let n = Int(w) {
            guard (0...palette).contains(n) else { throw SpecProblem(text: "colour \(n) is outside 0-\(palette)") }
            return n
        }
        if let n = colorNames[w], n <= palette { return n }
        throw SpecProblem(text: "unknown colour \"\(word)\" (use 0-\(palette), a colour name or default)")
    }

    static func attributes(_ words: [String]) throws -> TextAttributes {
        var attrs: TextAttributes = []
        for word in words {
            if word == "-" || word == "none" { continue }
            guard let a = TextAttributes.names.first(where: { $0.0 == word.lowercased() })?.1 else {
                throw SpecProblem(text: "unknown attribute \"\(word)\" (use bold, dim, underline, reverse, italic)")
            }
            attrs.insert(a)
        }
        return attrs
    }
}
