@testable import CKSTeardown
import Foundation
import Testing
@testable import CKSConsole

/// A keymap or config file that exists but cannot be read is reported, never silently ignored (found by the
/// reliability suite's "corrupt keymap file" terminal scenario).
@Test func unreadableKeymapAndConfigAreReported() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cks-settings-\(UUID().uuidString)")
    let cks = dir.appendingPathComponent("cks")
    try FileManager.default.createDirectory(at: cks, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    _ = FileManager.default.createFile(atPath: cks.appendingPathComponent("keymap").path, contents: Data([0x71, 0x3D, 0xC0, 0x80]))
    try FileManager.default.createDirectory(at: cks.appendingPathComponent("config"), withIntermediateDirectories: true)
    let settings = ConsoleSettings.resolve(themeFlag: nil, asciiFlag: false, readOnlyFlag: false,
                                           environment: ["XDG_CONFIG_HOME": dir.path], utf8Locale: true)
    #expect(settings.problems.contains { $0.contains("keymap") && $0.contains("UTF-8") }, "\(settings.problems)")
    #expect(settings.problems.contains { $0.contains("config") && $0.contains("directory") }, "\(settings.problems)")
    #expect(ConsoleSettings.readText(cks.appendingPathComponent("absent").path) == .absent)
}
