import Foundation

/// A fresh directory under `$TMPDIR`, removed on request.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init(prefix: String) throws {
        url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8).lowercased())", isDirectory: true)
        // Private, as a data directory must be.
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Where the repository and the built products are, found without absolute paths in the source.
public enum Locations {
    /// The repository root: two levels above this file's folder (Tests/CKSTestSupport/).
    public static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `cks` executable built next to the test bundle (`CKS_BINARY` overrides).
    public static let cksBinary: URL? = {
        let fm = FileManager.default
        if let override = ProcessInfo.processInfo.environment["CKS_BINARY"], fm.isExecutableFile(atPath: override) {
            return URL(fileURLWithPath: override)
        }
        var candidates: [URL] = []
        // The running test bundle (Linux: `.build/<triple>/debug/cksPackageTests.xctest`) sits next to `cks`.
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            candidates.append(URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("cks"))
        }
        if let exe = Bundle.main.executableURL {
            candidates.append(exe.deletingLastPathComponent().appendingPathComponent("cks"))
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("cks"))
        // macOS: the bundle is `…/debug/cksPackageTests.xctest/Contents/MacOS/…`.
        for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
            candidates.append(bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("cks"))
        }
        candidates.append(repositoryRoot.appendingPathComponent(".build/debug/cks"))
        return candidates.first { fm.isExecutableFile(atPath: $0.path) }
    }()

    /// The built `cks` is missing: the test cannot run, and says so as a failure (never a silent pass).
    public struct MissingBinary: Error, CustomStringConvertible {
        public var description: String {
            "the cks binary was not found next to the test bundle nor in .build/debug (build it, or set CKS_BINARY)"
        }
    }

    /// The built `cks`; throws `MissingBinary` (failing the calling test) when it is not there.
    public static func requireCksBinary() throws -> URL {
        guard let binary = cksBinary else { throw MissingBinary() }
        return binary
    }

    /// An executable on PATH, or nil.
    public static func tool(_ name: String) -> URL? { ExternalTool.locate(name) }
}
