import CKSTeardown
import Foundation

/// How a console session is presented: an autopilot's scenario, a recording, or neither (the console as usual).
public struct ConsolePresentation: Sendable {
    public var scenario: Scenario?
    public var pace: Double = 1
    public var exitAtEnd = false
    public var recordURL: URL?
    public var recordingTitle = "cks"
    /// Values masked wherever they show in a recording (the access key id of a real endpoint).
    public var secrets: [String] = []
    public init() {}

    public enum Resolution: Sendable {
        case run(ConsolePresentation)
        /// Nothing to run (a listing, or a refusal already printed): the exit status.
        case exit(Int32)
    }

    /// Checks the demo flags before anything starts; prints `--list`, and every refusal with what to do instead.
    public static func resolve(_ flags: ConsoleFlags, environment: [String: String]) -> Resolution {
        func refuse(_ text: String, _ status: ScriptedExit = .usage) -> Resolution {
            FileHandle.standardError.write(Data("cks: \(text)\n".utf8))
            return .exit(status.rawValue)
        }
        let catalog = ScenarioCatalog(environment: environment)
        if flags.listScenarios {
            guard flags.autopilot else { return refuse("--list lists the autopilot's scenarios: cks --demo --autopilot --list") }
            FileHandle.standardOutput.write(Data(listing(catalog).utf8))
            return .exit(0)
        }
        var p = ConsolePresentation()
        if flags.autopilot {
            guard flags.demo else {
                return refuse("--autopilot plays its scenarios only on the demo estate (they delete stores): add --demo")
            }
            do {
                p.scenario = try catalog.load(flags.scenario ?? ScenarioCatalog.defaultName)
            } catch {
                return refuse("scenario \(error.description)")
            }
            p.pace = flags.pace
            p.exitAtEnd = flags.exitAtEnd
            p.recordingTitle = "cks --demo --autopilot \(p.scenario?.name ?? "")"
        } else {
            if flags.scenario != nil { return refuse("a scenario is played by the autopilot: cks --demo --autopilot \(flags.scenario!)") }
            if flags.exitAtEnd { return refuse("--exit-at-end ends the console when the autopilot's scenario ends: add --demo --autopilot") }
            p.recordingTitle = flags.demo ? "cks --demo" : "cks"
        }
        guard flags.pace >= 0, flags.pace <= 100 else { return refuse("--pace takes a factor from 0 (fastest) to 100, 1 reads comfortably") }
        if let path = flags.record {
            guard path.hasSuffix(".cast") else { return refuse("--record writes an asciicast file: give it a name ending in .cast") }
            if !flags.demo && !flags.recordAnyway {
                return refuse("--record is refused on a real endpoint: a recording shows account ids, key ids and store names to "
                              + "whoever plays it. Record the demo (cks --demo --record FILE.cast), or pass --record-anyway "
                              + "(access key ids are then masked).")
            }
            let url = URL(fileURLWithPath: path)
            // Created now, so a path that cannot be written is said before the demo starts.
            guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                return refuse("cannot write the recording \(path): check the directory exists and is writable", .failure)
            }
            p.recordURL = url
        } else if flags.recordAnyway {
            return refuse("--record-anyway goes with --record FILE.cast")
        }
        return .run(p)
    }

    /// `--list`: each scenario's name and title, and the problem of any that cannot be used.
    static func listing(_ catalog: ScenarioCatalog) -> String {
        let entries = catalog.list()
        let width = (entries.map(\.name.count).max() ?? 8) + 2
        var out = "Scenarios (cks --demo --autopilot NAME; a path to a .\(ScenarioCatalog.fileExtension) file also works):\n"
        for e in entries {
            let padded = e.name.padding(toLength: width, withPad: " ", startingAt: 0)
            if let s = e.scenario {
                out += "  \(padded)\(s.title)\(s.source.hasSuffix("(shipped)") ? "" : "  [\(s.source)]")\n"
            } else {
                out += "  \(padded)cannot be used: \(e.problem ?? "unknown problem")\n"
            }
        }
        if let dir = catalog.userDirectory { out += "Your own: \(dir.path)/NAME.\(ScenarioCatalog.fileExtension) (see the README, \"Giving a demo\").\n" }
        return out
    }
}
