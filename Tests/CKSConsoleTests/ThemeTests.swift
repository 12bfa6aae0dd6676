@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

@Suite("Themes")
struct ThemeTests {
    static let required = ["default", "light", "high-contrast", "colorblind", "mono"]

    @Test("every shipped theme parses and defines every role")
    func shippedThemesParse() throws {
        #expect(Set(Self.required).isSubset(of: Set(ThemeCatalog.shippedNames)))
        for name in ThemeCatalog.shippedNames {
            let text = try #require(ShippedThemes.files[name])
            let theme = try ThemeParser.parse(text, file: "themes/\(name).theme")
            for role in Role.allCases { #expect(theme.styles[role] != nil, "\(name) lacks \(role.rawValue)") }
        }
    }

    /// The compiled-in copy must equal themes/*.theme. `CKS_RECORD=1 swift test --filter ShippedThemes` regenerates it.
    @Test("ShippedThemes.swift matches the themes folder")
    func compiledInCopyMatchesFiles() throws {
        let dir = Locations.repositoryRoot.appendingPathComponent("themes")
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".theme") }.sorted()
        var files: [String: String] = [:]
        for n in names { files[String(n.dropLast(6))] = try String(contentsOf: dir.appendingPathComponent(n), encoding: .utf8) }
        if ProcessInfo.processInfo.environment["CKS_RECORD"] == "1" {
            var out = ["// Generated from themes/*.theme by `CKS_RECORD=1 swift test --filter ShippedThemes`; do not edit by hand.",
                       "// The shipped themes are compiled in, so the binary of a fresh clone finds them wherever it runs.",
                       "enum ShippedThemes {", "    static let files: [String: String] = ["]
            for name in files.keys.sorted() {
                out.append("        \"\(name)\": ##\"\"\"")
                out.append(files[name]!.trimmingCharacters(in: .newlines))
                out.append("\"\"\"##,")
            }
            out += ["    ]", "}"]
            let target = Locations.repositoryRoot.appendingPathComponent("Sources/CKSConsole/Theme/ShippedThemes.swift")
            try (out.joined(separator: "\n") + "\n").write(to: target, atomically: true, encoding: .utf8)
            return
        }
        #expect(Set(files.keys) == Set(ShippedThemes.files.keys), "run CKS_RECORD=1 swift test --filter ShippedThemes")
        for (name, text) in files {
            #expect(text.trimmingCharacters(in: .newlines) == ShippedThemes.files[name]?.trimmingCharacters(in: .newlines),
                    "themes/\(name).theme changed: run CKS_RECORD=1 swift test --filter ShippedThemes")
        }
    }

    @Test("a broken theme names the file, the line and the problem")
    func brokenTheme() {
        let cases: [(String, Int, String)] = [
            ("normal = default | default | -\nheadr = 1 | 1 | bold\n", 2, "unknown role \"headr\""),
            ("normal = default | default\n", 1, "needs three parts"),
            ("normal = 300 | default | -\n", 1, "colour 300 is outside 0-255"),
            ("normal = default | purple | -\n", 1, "unknown colour \"purple\""),
            ("normal = default | default | blink\n", 1, "unknown attribute \"blink\""),
            ("just words\n", 1, "expected `role = 256 | 16 | mono`"),
        ]
        for (text, line, problem) in cases {
            do {
                _ = try ThemeParser.parse(text, file: "/x/bad.theme", base: ThemeCatalog.builtInDefault)
                Issue.record("no error for \(text)")
            } catch {
                #expect(error.file == "/x/bad.theme")
                #expect(error.line == line)
                #expect(error.problem.contains(problem), "\(error.problem)")
                #expect(error.description.hasPrefix("/x/bad.theme:\(line): "))
            }
        }
    }

    @Test("user themes override shipped ones; broken or missing ones fall back to default")
    func userThemes() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-theme-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "header = 1/2 bold | red/green | underline\n".write(to: dir.appendingPathComponent("light.theme"), atomically: true, encoding: .utf8)
        try "header = 999 | red | -\n".write(to: dir.appendingPathComponent("broken.theme"), atomically: true, encoding: .utf8)
        let catalog = ThemeCatalog(userDirectory: dir)
        let light = try catalog.load("light")
        #expect(light.resolve(.header, depth: .full256) == ResolvedStyle(foreground: 1, background: 2, attributes: .bold))
        // Roles the user file leaves out come from default.
        #expect(light.styles[.cursor] == ThemeCatalog.builtInDefault.styles[.cursor])
        let (fallback, problem) = catalog.loadOrDefault("broken")
        #expect(fallback.name == "default")
        #expect(problem?.contains("broken.theme:1: role \"header\": colour 999 is outside 0-255") == true)
        let (_, missing) = catalog.loadOrDefault("nope")
        #expect(missing?.contains("no such theme") == true)
        #expect(catalog.availableNames().contains("broken"))
    }

    @Test("colour depth: NO_COLOR, no colours, 8, 16 and 256 colours")
    func colorPolicy() {
        #expect(ColorPolicy.depth(environment: ["NO_COLOR": "1"], terminalColors: 256, hasColors: true) == .mono)
        #expect(ColorPolicy.depth(environment: ["NO_COLOR": ""], terminalColors: 256, hasColors: true) == .full256)
        #expect(ColorPolicy.depth(environment: [:], terminalColors: 0, hasColors: false) == .mono)
        #expect(ColorPolicy.depth(environment: [:], terminalColors: 8, hasColors: true) == .eight)
        #expect(ColorPolicy.depth(environment: [:], terminalColors: 16, hasColors: true) == .sixteen)
        let t = ThemeCatalog.builtInDefault
        // header's 16-colour value is bright-white on blue: on 8 colours, white made bold.
        #expect(t.resolve(.header, depth: .eight) == ResolvedStyle(foreground: 7, background: 4, attributes: .bold))
        // Not the cursor row's reverse video: a FAILED store under the cursor must still read as FAILED.
        #expect(t.resolve(.stateFailed, depth: .mono).attributes == [.bold, .underline])
        #expect(t.resolve(.stateFailed, depth: .mono).attributes != t.resolve(.cursor, depth: .mono).attributes)
    }

    @Test("settings: --theme beats CKS_THEME beats the config file; a broken config is reported")
    func settingsPrecedence() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-cfg-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir.appendingPathComponent("cks"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        try "theme = light\nread-only = true\n".write(to: dir.appendingPathComponent("cks/config"), atomically: true, encoding: .utf8)
        let env = ["XDG_CONFIG_HOME": dir.path]
        var s = ConsoleSettings.resolve(themeFlag: nil, asciiFlag: false, readOnlyFlag: false, environment: env, utf8Locale: true)
        #expect(s.themeName == "light" && s.readOnly && !s.ascii && s.problems.isEmpty)
        s = ConsoleSettings.resolve(themeFlag: nil, asciiFlag: false, readOnlyFlag: false, environment: env.merging(["CKS_THEME": "mono"]) { $1 }, utf8Locale: false)
        #expect(s.themeName == "mono" && s.ascii)
        s = ConsoleSettings.resolve(themeFlag: "colorblind", asciiFlag: false, readOnlyFlag: false, environment: env.merging(["CKS_THEME": "mono"]) { $1 }, utf8Locale: true)
        #expect(s.themeName == "colorblind")
        s = ConsoleSettings.resolve(themeFlag: "nope", asciiFlag: false, readOnlyFlag: false, environment: env, utf8Locale: true)
        #expect(s.themeName == "default" && s.problems.count == 1)
        try "colour = red\n".write(to: dir.appendingPathComponent("cks/config"), atomically: true, encoding: .utf8)
        s = ConsoleSettings.resolve(themeFlag: nil, asciiFlag: false, readOnlyFlag: false, environment: env, utf8Locale: true)
        #expect(s.problems.first?.contains("config:1: unknown setting \"colour\"") == true)
    }
}
