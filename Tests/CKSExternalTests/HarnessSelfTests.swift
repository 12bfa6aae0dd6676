import Foundation
import Testing

/// The harness itself: if these break, the external suites would report nonsense.
@Suite("external harness")
struct HarnessSelfTests {
    @Test("the cks executable is found next to the test bundle")
    func findsCksBinary() throws {
        let binary = try #require(Locations.cksBinary, "cks not found; looked next to the test bundle and in .build/debug")
        #expect(FileManager.default.isExecutableFile(atPath: binary.path))
        #expect(FileManager.default.fileExists(atPath: Locations.pythonDirectory.appendingPathComponent("cks_harness.py").path))
    }

    @Test("a child that outlives its timeout is killed and reported")
    func processTimeout() async throws {
        let started = ContinuousClock.now
        let result = try await ProcessRunner.run(["sleep", "30"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(result.status != 0)
        #expect(ContinuousClock.now - started < .seconds(10))
        let echoed = try await ProcessRunner.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(echoed.stdout == "out\n" && echoed.stderr == "err\n" && echoed.status == 3 && !echoed.timedOut)
    }

    @Test("tmux: start, wait for text, send keys, see the program exit, kill by name",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func tmuxRoundTrip() async throws {
        try ExternalTools.require(.tmux)
        try await withTmux(["sh", "-c", "printf 'ready → %s\\n' \"$LANG\"; read line; echo \"got [$line]\"; exit 7"],
                           width: 80, height: 24) { tmux in
            try await tmux.waitFor("ready → C.UTF-8")
            try await tmux.send("hello world", literal: true)
            try await tmux.send("Enter")
            try await tmux.waitFor("got [hello world]")
            let state = try await tmux.waitForExit()
            #expect(state.dead && state.status == "7", "pane state \(state)")
        }
    }
}
