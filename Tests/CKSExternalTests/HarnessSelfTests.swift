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
        // The child would sleep for ten minutes; the bound is loose because a loaded machine delays spawning and
        // reaping by many seconds, yet still far below what an ignored timeout would take.
        let result = try await ProcessRunner.run(["sleep", "600"], timeout: .milliseconds(300))
        #expect(result.timedOut)
        #expect(result.status != 0)
        #expect(ContinuousClock.now - started < .seconds(120))
        let echoed = try await ProcessRunner.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        #expect(echoed.stdout == "out\n" && echoed.stderr == "err\n" && echoed.status == 3 && !echoed.timedOut)
    }

    @Test("tmux: start, wait for text, send keys, see the program exit, kill by name",
          .enabled(if: ExternalTools.usable(.tmux), "needs tmux (CKS_REQUIRE_EXTERNAL=1 turns this skip into a failure)"))
    func tmuxRoundTrip() async throws {
        try ExternalTools.require(.tmux)
        let scratch = try TemporaryDirectory(prefix: "cks-qa-harness")
        defer { scratch.remove() }
        // The exit status as the suites read it: from a wrapper's file. tmux 3.3a marks the pane dead when its pty
        // closes but, under the whole suite's load, sometimes never fills in #{pane_dead_status} (2 of 4 CI runs,
        // still empty after 30 s), so the suites never rely on it for a status.
        let statusFile = scratch.url.appendingPathComponent("exit-status")
        let script = "printf 'ready → %s\\n' \"$LANG\"; read line; echo \"got [$line]\"; exit 7"
        try await withTmux(["/bin/sh", "-c", "\"$0\" \"$@\"; echo $? > \"$CKS_QA_STATUS\"", "sh", "-c", script],
                           width: 80, height: 24, environment: ["CKS_QA_STATUS": statusFile.path]) { tmux in
            try await tmux.waitFor("ready → C.UTF-8")
            try await tmux.send("hello world", literal: true)
            try await tmux.send("Enter")
            try await tmux.waitFor("got [hello world]")
            let state = try await tmux.waitForExit()
            let status = (try? String(contentsOf: statusFile, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(state.dead, "the harness sees the program exit: \(state)")
            #expect(status == "7", "the program's exit status: \(status ?? "none")")
            #expect(state.status.isEmpty || state.status == "0", "tmux's status, when it gives one, is the wrapper's: \(state)")
        }
    }
}
