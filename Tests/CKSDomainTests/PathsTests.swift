import CKSDomain
import Foundation
import Testing

/// Where cks keeps its files: one rule (the XDG base directory specification) for data, state and configuration.
@Suite struct PathsTests {
    @Test("an absolute XDG_* variable wins; unset, empty or relative falls back to HOME")
    func xdgVariables() {
        let cases: [(String, KeyPath<CKSPaths, URL?>, String)] = [
            ("XDG_STATE_HOME", \.stateDirectory, ".local/state"),
            ("XDG_CONFIG_HOME", \.configDirectory, ".config"),
        ]
        for (variable, path, underHome) in cases {
            #expect(CKSPaths(environment: [variable: "/x", "HOME": "/h"])[keyPath: path]?.path == "/x/cks")
            #expect(CKSPaths(environment: ["HOME": "/h"])[keyPath: path]?.path == "/h/\(underHome)/cks")
            #expect(CKSPaths(environment: [variable: "", "HOME": "/h"])[keyPath: path]?.path == "/h/\(underHome)/cks")
            #expect(CKSPaths(environment: [variable: "relative", "HOME": "/h"])[keyPath: path]?.path == "/h/\(underHome)/cks",
                    "a relative \(variable) is invalid per the XDG spec and ignored")
            #expect(CKSPaths(environment: [variable: "relative"])[keyPath: path] == nil)
            #expect(CKSPaths(environment: ["HOME": "relative"])[keyPath: path] == nil, "a relative HOME is not used")
        }
        #expect(CKSPaths(environment: ["XDG_DATA_HOME": "/x", "HOME": "/h"]).dataDirectory.path == "/x/cks")
        #expect(CKSPaths(environment: ["XDG_DATA_HOME": "rel", "HOME": "/h"]).dataDirectory.path == "/h/.local/share/cks")
        #expect(CKSPaths(environment: [:]).dataDirectory.path.hasSuffix("/.local/share/cks"),
                "without HOME the data directory is under the account's home")
    }
}
