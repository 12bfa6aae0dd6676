import Foundation

/// What the console starts with, resolved from flags, environment and the config file, in that order:
/// `--theme` > `CKS_THEME` > `theme =` in `$XDG_CONFIG_HOME/cks/config` > `default`.
public struct ConsoleSettings: Sendable {
    public var themeName: String
    public var theme: Theme
    public var keymap: Keymap
    public var ascii: Bool
    public var readOnly: Bool
    /// Problems to show once the UI is up (a broken theme, keymap or config); the defaults are in use.
    public var problems: [String]

    /// Resolves the settings. `utf8Locale` is whether the terminal's locale is UTF-8 (else ASCII symbols).
    public static func resolve(themeFlag: String?, asciiFlag: Bool, readOnlyFlag: Bool,
                               environment: [String: String], utf8Locale: Bool) -> ConsoleSettings {
        var problems: [String] = []
        let configDir = ConsolePaths.configDirectory(environment: environment)
        var config: [String: String] = [:]
        if let dir = configDir {
            let path = dir.appendingPathComponent("config").path
            switch readText(path) {
            case .text(let text):
                let (values, problem) = parseConfig(text, path: path)
                config = values
                if let problem { problems.append(problem) }
            case .unreadable(let why): problems.append("config \(path): \(why); config ignored")
            case .absent: break
            }
        }
        let name = themeFlag ?? environment["CKS_THEME"].flatMap { $0.isEmpty ? nil : $0 } ?? config["theme"] ?? "default"
        let (theme, themeProblem) = ThemeCatalog(environment: environment).loadOrDefault(name)
        if let themeProblem { problems.append(themeProblem) }
        var keymap = Keymap.defaults
        if let dir = configDir {
            let path = dir.appendingPathComponent("keymap").path
            switch readText(path) {
            case .text(let text):
                let (map, problem) = keymap.applying(file: text, path: path)
                keymap = map
                if let problem { problems.append(problem) }
            case .unreadable(let why): problems.append("keymap \(path): \(why); default keys in use")
            case .absent: break
            }
        }
        let ascii = asciiFlag || config["ascii"] == "true" || !utf8Locale
        let readOnly = readOnlyFlag || config["read-only"] == "true"
        return ConsoleSettings(themeName: themeProblem == nil ? name : "default", theme: theme, keymap: keymap,
                               ascii: ascii, readOnly: readOnly, problems: problems)
    }

    /// A settings file: absent (fine), UTF-8 text, or present but unusable (said once the UI is up, never ignored
    /// silently: a keymap that is not applied would surprise the operator).
    enum SettingsFile: Equatable {
        case absent
        case text(String)
        case unreadable(String)
    }

    static func readText(_ path: String) -> SettingsFile {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { return .absent }
        if isDirectory.boolValue { return .unreadable("is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else { return .unreadable("cannot be read") }
        guard let text = String(data: data, encoding: .utf8) else { return .unreadable("cannot be read as UTF-8 text") }
        return .text(text)
    }

    /// `key = value` lines; known keys: theme, read-only, ascii.
    static func parseConfig(_ text: String, path: String) -> ([String: String], String?) {
        var out: [String: String] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else { return ([:], "config \(path):\(i + 1): expected `key = value`; config ignored") }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard ["theme", "read-only", "ascii"].contains(key) else {
                return ([:], "config \(path):\(i + 1): unknown setting \"\(key)\" (theme, read-only, ascii); config ignored")
            }
            if key != "theme" && value != "true" && value != "false" {
                return ([:], "config \(path):\(i + 1): \(key) must be true or false; config ignored")
            }
            out[key] = value
        }
        return (out, nil)
    }
}
