import Foundation

/// An AWS shared config or credentials file (`~/.aws/config`, `~/.aws/credentials`), parsed the way botocore's
/// `configloader` reads it: `[section]` headers, `key = value` lines, `#`/`;` comments, and nested sub-sections
/// (a key with an empty value followed by indented `key = value` lines, as in `[services x]` → `kms =`).
public struct SharedConfigFile: Sendable, Hashable {
    /// A section's settings. Keys are lower-cased; nested sub-sections are keyed `parent.child` (e.g. `kms.endpoint_url`).
    public typealias Section = [String: String]

    /// Sections by their header text, trimmed (`default`, `profile dev`, `services local`, `dev`).
    public var sections: [String: Section]

    public init(sections: [String: Section] = [:]) { self.sections = sections }

    /// Parses `text`; malformed lines are skipped rather than failing the whole file (botocore raises, but a
    /// console that refuses to start over one stray line helps nobody).
    public init(parsing text: String) {
        var sections: [String: Section] = [:]
        var current: String?
        var nestedParent: String?
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            let line = String(rawLine)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") || trimmed.hasPrefix(";") { continue }
            let indented = line.first == " " || line.first == "\t"
            if !indented, trimmed.hasPrefix("["), let close = trimmed.lastIndex(of: "]") {
                let name = trimmed[trimmed.index(after: trimmed.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                current = name
                nestedParent = nil
                if sections[name] == nil { sections[name] = [:] }
                continue
            }
            guard let section = current, let eq = trimmed.firstIndex(where: { $0 == "=" || $0 == ":" }) else { continue }
            let key = trimmed[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            guard !key.isEmpty else { continue }
            let value = Self.stripInlineComment(trimmed[trimmed.index(after: eq)...].trimmingCharacters(in: .whitespaces))
            if indented, let parent = nestedParent {
                sections[section, default: [:]]["\(parent).\(key)"] = value
            } else if value.isEmpty {
                nestedParent = key   // the start of a nested sub-section
            } else {
                nestedParent = nil
                sections[section, default: [:]][key] = value
            }
        }
        self.sections = sections
    }

    /// Reads and parses a file; a missing or unreadable file is an empty one, as with the AWS tools.
    public init(contentsOf url: URL) {
        guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
            self.init()
            return
        }
        self.init(parsing: text)
    }

    /// ` ;` or ` #` after a value starts a comment (configparser's inline comment prefixes need whitespace before).
    private static func stripInlineComment(_ value: String) -> String {
        for marker in [" #", " ;", "\t#", "\t;"] {
            if let range = value.range(of: marker) {
                return value[..<range.lowerBound].trimmingCharacters(in: .whitespaces)
            }
        }
        return value
    }

    /// A profile from the config file: `[default]` or `[profile NAME]` (botocore also accepts a bare `[NAME]`).
    public func configProfile(_ name: String) -> Section? {
        if name == "default" { return sections["default"] ?? sections["profile default"] }
        return sections["profile \(name)"] ?? sections[name]
    }

    /// A profile from the credentials file: `[NAME]` (never with the `profile ` prefix).
    public func credentialsProfile(_ name: String) -> Section? { sections[name] }

    /// A `[services NAME]` section of the config file.
    public func services(_ name: String) -> Section? { sections["services \(name)"] }
}
