import ArgumentParser
import Foundation

/// `swift run -c release cks-bench`: the performance benchmark. Starts everything it measures on
/// 127.0.0.1 (free ports), seeds it, runs each workload three times with wrk, prints a table and writes JSON.
@main
struct CKSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cks-bench",
        abstract: "Measure the cks core (side by side with moto and an nginx ceiling), its scale, the console, the teardown and the XKS proxy.",
        subcommands: [EngineBench.self])

    @Flag(help: "Smoke run: small estates, 3 s runs.")
    var quick = false

    @Flag(help: "Also write docs/bench/latest.json and docs/bench/latest.md (the README's table).")
    var publish = false

    @Option(help: "Comma-separated sections to run: \(BenchConfig.allSections.joined(separator: ",")) (default: all).")
    var only: String?

    @Option(help: "Seconds per wrk run (default 10, quick 3).")
    var seconds: Double?

    @Option(help: "Runs per cell.")
    var runs = 3

    @Flag(help: "Skip moto (the core's rows then have no ratio).")
    var noMoto = false

    @Option(help: "Measure moto only at estate sizes up to this many keys (seeding moto is slow).")
    var motoMaxKeys: Int?

    @Option(help: "Extra arguments for `cks serve`, space-separated (e.g. \"--durability full\").")
    var coreArgs: String?

    @Option(help: "The cks executable (default: the one next to cks-bench, built if missing).")
    var cks: String?

    func run() async throws {
        let wallStart = Date()
        let root = Self.packageRoot()
        let workDirectory = root.appendingPathComponent(".build/bench")
        try FileManager.default.createDirectory(at: workDirectory, withIntermediateDirectories: true)
        let tools = try Host.ensureTools()
        let cksPath = try cks ?? Self.locateCKS(root: root)

        var config = BenchConfig(root: root, workDirectory: workDirectory, cksExecutable: cksPath,
                                 wrkExecutable: tools.wrk, nginxExecutable: tools.nginx,
                                 command: (["swift run -c release cks-bench"] + CommandLine.arguments.dropFirst()).joined(separator: " "))
        if quick { config.applyQuick() }
        if let seconds { config.secondsPerRun = seconds }
        config.runs = max(1, runs)
        config.publish = publish
        config.withMoto = !noMoto
        if let motoMaxKeys { config.motoMaxKeys = motoMaxKeys }
        if let coreArgs { config.coreArguments = coreArgs.split(separator: " ").map(String.init) }
        if let only {
            let chosen = Set(only.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
            let unknown = chosen.subtracting(BenchConfig.allSections)
            guard unknown.isEmpty else { throw ValidationError("unknown section(s): \(unknown.sorted().joined(separator: ", "))") }
            config.sections = chosen
        }
        if config.sections.contains("ceiling") {
            do { config.helloExecutable = try Self.locateProduct("cks-bench-hello", root: root) } catch { Host.log("\(error)") }
        }

        var versions = ["nginx": NginxProcess.version(tools.nginx)]
        if config.withMoto, config.sections.contains("core") { versions["moto"] = MotoProcess.version() }
        let formatter = ISO8601DateFormatter()
        let results = Results(generatedAt: formatter.string(from: Date()), command: config.command, quick: config.quick,
                              secondsPerRun: config.secondsPerRun, runsPerCell: config.runs, machine: Host.machine(),
                              versions: versions)
        let bench = try Bench(config: config, results: results)
        Host.log("cks: \(cksPath); results in \(workDirectory.path)")

        do {
            // Results are written after every section, so a crash of a later one loses nothing measured before it.
            if config.sections.contains("ceiling") { try bench.ceiling(); try bench.checkpoint(wallStart) }
            if config.sections.contains("core") { try bench.coreVsMoto(); try bench.checkpoint(wallStart) }
            var big: (directory: URL, storeId: String, keys: Int)?
            if config.sections.contains("scale") || config.sections.contains("console") {
                big = try bench.scale()
                try bench.checkpoint(wallStart)
            }
            if config.sections.contains("teardown") { try await bench.teardown(); try bench.checkpoint(wallStart) }
            if config.sections.contains("xks") { try bench.xksProxy(); try bench.checkpoint(wallStart) }
            if config.sections.contains("evidence") { try bench.evidence(); try bench.checkpoint(wallStart) }
            else {
                // Either half of 'evidence' alone: the recording cost A/B, LookupEvents over a large record.
                if config.sections.contains("recording") { try bench.recordingCost(); try bench.checkpoint(wallStart) }
                if config.sections.contains("lookup") { try bench.lookupOverALargeRecord(); try bench.checkpoint(wallStart) }
            }
            if config.sections.contains("evidencepass") { try await bench.evidencePass(); try bench.checkpoint(wallStart) }
            // Last: the in-process console driver runs the console's own code, which may trap.
            if config.sections.contains("console"), let big { try await bench.console(estate: big) }
            if config.sections.contains("contexts") { try await bench.allStoresFirstFrame(); try bench.checkpoint(wallStart) }
        } catch {
            Host.log("FAILED: \(error)")
            bench.results.notes.append("The run stopped early: \(error)")
            try bench.finish(wallStart: wallStart, publish: false)
            throw ExitCode.failure
        }
        try bench.finish(wallStart: wallStart, publish: publish)
    }

    /// The package root: the current directory when it holds Package.swift, else the source tree this was built from.
    static func packageRoot() -> URL {
        let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
        if FileManager.default.fileExists(atPath: cwd.appendingPathComponent("Package.swift").path) { return cwd }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// The `cks` built beside this executable; built with the same configuration when missing.
    static func locateCKS(root: URL) throws -> String { try locateProduct("cks", root: root) }

    /// An executable of this package next to cks-bench, built (in cks-bench's configuration) when missing.
    static func locateProduct(_ product: String, root: URL) throws -> String {
        let own = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let sibling = own.deletingLastPathComponent().appendingPathComponent(product)
        if FileManager.default.isExecutableFile(atPath: sibling.path) { return sibling.path }
        let configuration = own.deletingLastPathComponent().lastPathComponent == "debug" ? "debug" : "release"
        Host.log("building \(product) (swift build -c \(configuration) --product \(product))")
        guard let swift = Host.which("swift"),
              Host.run(swift, ["build", "-c", configuration, "--product", product, "--package-path", root.path],
                       outputToStandardError: true) == 0 else {
            throw BenchError("could not build \(product); build it (swift build -c release --product \(product))")
        }
        let (_, binPath) = try Host.capture(swift, ["build", "-c", configuration, "--show-bin-path", "--package-path", root.path])
        let built = URL(fileURLWithPath: binPath.trimmingCharacters(in: .whitespacesAndNewlines)).appendingPathComponent(product)
        guard FileManager.default.isExecutableFile(atPath: built.path) else { throw BenchError("no \(product) at \(built.path)") }
        return built.path
    }
}

extension Bench {
    /// Writes what was measured so far to `.build/bench/results.partial.json`.
    func checkpoint(_ wallStart: Date) throws {
        results.wallSeconds = Date().timeIntervalSince(wallStart)
        results.targets = Targets.check(results)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try encoder.encode(results).write(to: config.workDirectory.appendingPathComponent("results.partial.json"))
        // A section that traps later (the console driver runs the console's own code) must not cost the
        // published figures of the sections before it.
        if config.publish {
            var partial = results
            partial.notes.append("Partial: published after a section; the sections not shown had not finished (or did not run).")
            try publishDocuments(json: try encoder.encode(partial), document: Render.document(partial))
        }
    }

    func publishDocuments(json: Data, document: String) throws {
        let docs = config.root.appendingPathComponent("docs/bench")
        try FileManager.default.createDirectory(at: docs, withIntermediateDirectories: true)
        try json.write(to: docs.appendingPathComponent("latest.json"))
        try Data(document.utf8).write(to: docs.appendingPathComponent("latest.md"))
    }

    /// Checks the targets, prints the document, writes JSON (and the published copies).
    func finish(wallStart: Date, publish: Bool) throws {
        results.wallSeconds = Date().timeIntervalSince(wallStart)
        results.targets = Targets.check(results)
        let document = Render.document(results)
        FileHandle.standardOutput.write(Data(document.utf8))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let json = try encoder.encode(results)
        let out = config.workDirectory.appendingPathComponent("results.json")
        try json.write(to: out)
        try Data(document.utf8).write(to: config.workDirectory.appendingPathComponent("results.md"))
        Host.log("wrote \(out.path)")
        if publish {
            try publishDocuments(json: json, document: document)
            Host.log("published docs/bench/latest.json and docs/bench/latest.md")
        }
    }
}
