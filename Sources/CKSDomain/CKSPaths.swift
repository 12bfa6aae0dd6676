import Foundation

/// Where cks keeps its files, by the XDG base directory specification: the data directory of `cks serve` and the
/// embedded core, the state directory (the teardown journal, the console's log), the configuration directory
/// (themes, keymap, settings), the cache directory (the console's key index). An `XDG_*` variable that is unset, empty or relative is ignored, as the
/// specification says; so is a relative `HOME`.
public struct CKSPaths: Sendable {
    public var environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// `$XDG_DATA_HOME/cks`, else `~/.local/share/cks` (the account's home when `HOME` is unusable).
    public var dataDirectory: URL {
        base("XDG_DATA_HOME", underHome: ".local/share")
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".local/share/cks", isDirectory: true)
    }

    /// `$XDG_STATE_HOME/cks`, else `~/.local/state/cks`; nil when neither variable names an absolute directory.
    public var stateDirectory: URL? { base("XDG_STATE_HOME", underHome: ".local/state") }

    /// `$XDG_CACHE_HOME/cks`, else `~/.cache/cks`; nil when neither variable names an absolute directory.
    public var cacheDirectory: URL? { base("XDG_CACHE_HOME", underHome: ".cache") }

    /// `$XDG_CONFIG_HOME/cks`, else `~/.config/cks`; nil when neither variable names an absolute directory.
    public var configDirectory: URL? { base("XDG_CONFIG_HOME", underHome: ".config") }

    private func base(_ variable: String, underHome relative: String) -> URL? {
        if let value = environment[variable], value.hasPrefix("/") {
            return URL(fileURLWithPath: value, isDirectory: true).appendingPathComponent("cks", isDirectory: true)
        }
        if let home = environment["HOME"], home.hasPrefix("/") {
            return URL(fileURLWithPath: home, isDirectory: true)
                .appendingPathComponent(relative, isDirectory: true).appendingPathComponent("cks", isDirectory: true)
        }
        return nil
    }
}
