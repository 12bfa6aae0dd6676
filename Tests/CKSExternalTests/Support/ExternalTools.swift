import Foundation
import Testing

/// The third-party programs the external suites drive. Each is looked up once per test run.
enum ExternalTool: String, Sendable, CaseIterable {
    case python3
    case boto3
    case aws
    case tmux
    /// The asciinema Python package (2.x), which checks the console's recordings.
    case asciinema

    /// What to install when the tool is missing (shown in skip reasons and failures).
    var installHint: String {
        switch self {
        case .python3: return "python3 (on PATH)"
        case .boto3: return "boto3 for python3 (`python3 -m pip install boto3`)"
        case .aws: return "the aws CLI (`python3 -m pip install awscli`)"
        case .tmux: return "tmux (`apt-get install tmux`)"
        case .asciinema: return "asciinema for python3 (`python3 -m pip install asciinema`)"
        }
    }
}

/// Availability of external tools, and the shared rule: a missing tool skips the test with a visible
/// reason, unless `CKS_REQUIRE_EXTERNAL=1`, in which case the test runs and fails naming the tool.
enum ExternalTools {
    /// `CKS_REQUIRE_EXTERNAL=1` (CI): missing tools are failures, not skips.
    static let requireAll: Bool = ProcessInfo.processInfo.environment["CKS_REQUIRE_EXTERNAL"] == "1"

    private static let availability: [ExternalTool: Bool] = {
        var found: [ExternalTool: Bool] = [:]
        found[.python3] = executableOnPath("python3") != nil
        found[.aws] = executableOnPath("aws") != nil
        found[.tmux] = executableOnPath("tmux") != nil
        found[.boto3] = found[.python3] == true && runQuietly(["python3", "-c", "import boto3, botocore"]) == 0
        found[.asciinema] = found[.python3] == true && runQuietly(["python3", "-c", "import asciinema.asciicast.v2"]) == 0
        return found
    }()

    static func isAvailable(_ tool: ExternalTool) -> Bool { availability[tool] ?? false }

    /// For `.enabled(if:)`: true when every tool is there, or when missing tools must fail instead of skip.
    static func usable(_ tools: ExternalTool...) -> Bool {
        requireAll || tools.allSatisfy(isAvailable)
    }

    /// Call first in a test gated by `usable`: under `CKS_REQUIRE_EXTERNAL=1` a missing tool fails here.
    static func require(_ tools: ExternalTool..., sourceLocation: SourceLocation = #_sourceLocation) throws {
        let missing = tools.filter { !isAvailable($0) }
        guard missing.isEmpty else {
            let names = missing.map(\.installHint).joined(separator: ", ")
            Issue.record("CKS_REQUIRE_EXTERNAL=1 but missing: \(names)", sourceLocation: sourceLocation)
            throw HarnessError("missing external tools: \(names)")
        }
    }

    /// The absolute path of `name` on `PATH`, if any.
    static func executableOnPath(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    private static func runQuietly(_ arguments: [String]) -> Int32 {
        ProcessRunner.runSynchronously(arguments).status
    }
}

