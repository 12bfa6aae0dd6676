import Foundation
import Testing
@testable import CKSTeardown

/// One list of exit statuses, every help text generated from it.
@Suite struct ExitStatusTests {
    @Test("cks teardown --help lists 0, 10-12, then the statuses every verb shares")
    func teardownHelp() {
        #expect(ScriptedExit.teardownHelp == "Exit status: 0 done (the store is deleted; with --abort, everything given back), "
            + "10 waiting (run again later, or use --wait), 11 blocked (a decision is needed, or a confirmation was refused: "
            + "see the output), 12 --dry-run with a change to make, 1 other error, 2 not found, 3 access denied, "
            + "4 invalid state, 5 cannot reach the endpoint, 6 configuration error (no credentials, unknown profile, "
            + "malformed endpoint, an endpoint without custom key stores), 64 usage error, 130 interrupted (Ctrl-C).")
    }

    @Test("every status has one meaning and one number")
    func unique() {
        #expect(Set(ScriptedExit.allCases.map(\.rawValue)).count == ScriptedExit.allCases.count)
        #expect(Set(ScriptedExit.allCases.map(\.meaning)).count == ScriptedExit.allCases.count)
        for list in [ScriptedExit.stores, ScriptedExit.keys, ScriptedExit.console, ScriptedExit.teardown] {
            #expect(ScriptedExit.help(list).hasPrefix("Exit status: 0 "))
        }
    }

    @Test("the README gives cks teardown's statuses as its help does")
    func readme() throws {
        let readme = try String(contentsOf: Locations.repositoryRoot.appendingPathComponent("README.md"), encoding: .utf8)
        let flat = readme.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        let help = ScriptedExit.teardownHelp.dropFirst("Exit status: ".count)
        #expect(flat.contains(help), "README's `cks teardown` exit statuses differ from `cks teardown --help`")
    }
}
