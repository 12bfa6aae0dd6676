import CKSDomain
import Foundation

/// Finds themes: a user's `$XDG_CONFIG_HOME/cks/themes/NAME.theme` first (it overrides a shipped
/// theme of the same name), then the themes shipped in the repository's `themes/` folder, which are
/// compiled into the binary (ShippedThemes.swift, regenerated and checked by the tests).
public struct ThemeCatalog: Sendable {
    /// The user theme folder, or nil when there is none.
    public var userDirectory: URL?

    public init(userDirectory: URL?) { self.userDirectory = userDirectory }

    /// The catalog for an environment (`XDG_CONFIG_HOME`, else `~/.config`).
    public init(environment: [String: String]) {
        self.userDirectory = ConsolePaths.configDirectory(environment: environment)?.appendingPathComponent("themes")
    }

    /// Names of the shipped themes, sorted.
    public static var shippedNames: [String] { ShippedThemes.files.keys.sorted() }

    /// The built-in `default` theme; it is always valid (a test parses every shipped theme).
    public static let builtInDefault: Theme = {
        // The shipped file is checked by the tests; a failure here can only come from editing it without running them.
        (try? ThemeParser.parse(ShippedThemes.files["default"] ?? "", file: "themes/default.theme"))
            ?? Theme(name: "default", description: "", styles: [:])
    }()

    /// Every name available: shipped and user themes.
    public func availableNames() -> [String] {
        var names = Set(ShippedThemes.files.keys)
        if let dir = userDirectory, let items = try? FileManager.default.contentsOfDirectory(atPath: dir.path) {
            for item in items where item.hasSuffix(".theme") { names.insert(String(item.dropLast(6))) }
        }
        return names.sorted()
    }

    /// Loads `name`. A missing theme or a broken file is an error naming the file, line and problem.
    public func load(_ name: String) throws(ThemeError) -> Theme {
        let safe = !name.isEmpty && !name.contains("/") && !name.hasPrefix(".")
        if safe, let dir = userDirectory {
            let url = dir.appendingPathComponent("\(name).theme")
            if FileManager.default.fileExists(atPath: url.path) {
                guard let data = FileManager.default.contents(atPath: url.path), let text = String(data: data, encoding: .utf8) else {
                    throw ThemeError(file: url.path, line: 0, problem: "cannot be read as UTF-8 text")
                }
                return try ThemeParser.parse(text, file: url.path, base: Self.builtInDefault)
            }
        }
        if safe, let text = ShippedThemes.files[name] {
            return try ThemeParser.parse(text, file: "themes/\(name).theme", base: name == "default" ? nil : Self.builtInDefault)
        }
        throw ThemeError(file: "\(name).theme", line: 0,
                         problem: "no such theme (available: \(availableNames().joined(separator: ", ")))")
    }

    /// Loads `name`, falling back to `default` with a message when it is missing or broken.
    public func loadOrDefault(_ name: String) -> (theme: Theme, problem: String?) {
        do { return (try load(name), nil) } catch {
            return (Self.builtInDefault, "theme \(error.description); using the default theme")
        }
    }
}

/// Where the console keeps its configuration and its log (see `CKSPaths`).
public enum ConsolePaths {
    /// `$XDG_CONFIG_HOME/cks`, else `~/.config/cks`.
    public static func configDirectory(environment: [String: String]) -> URL? {
        CKSPaths(environment: environment).configDirectory
    }

    /// `$XDG_STATE_HOME/cks`, else `~/.local/state/cks`, else the temporary directory: where the console's log goes.
    public static func stateDirectory(environment: [String: String]) -> URL {
        CKSPaths(environment: environment).stateDirectory
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("cks")
    }
}

/// The colour depth to draw with: NO_COLOR (non-empty) wins, then what the terminal reports.
public enum ColorPolicy {
    public static func depth(environment: [String: String], terminalColors: Int, hasColors: Bool) -> ColorDepth {
        if let noColor = environment["NO_COLOR"], !noColor.isEmpty { return .mono }
        guard hasColors else { return .mono }
        if terminalColors >= 256 { return .full256 }
        if terminalColors >= 16 { return .sixteen }
        if terminalColors >= 8 { return .eight }
        return .mono
    }
}
