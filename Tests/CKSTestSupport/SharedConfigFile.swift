import Foundation

/// An AWS shared config file (`~/.aws/config`) for the context suites: profiles with a region, an endpoint and a
/// principal's static keys, written under a scratch home.
public enum SharedConfigFile {
    public struct Profile: Sendable {
        public var name: String
        public var region: String
        public var endpoint: String
        public var accessKeyId: String
        public var secretAccessKey: String

        /// `[profile NAME]` signing as `principal` against `endpoint` in `region`.
        public init(_ name: String, region: String, endpoint: URL, as principal: TestPrincipal) {
            self.name = name
            self.region = region
            self.endpoint = endpoint.absoluteString
            accessKeyId = principal.accessKeyId
            secretAccessKey = principal.secretAccessKey
        }

        /// A profile whose endpoint nobody listens on (port 9, discard): its context fails, the others load.
        public static func unreachable(_ name: String) -> Profile {
            var p = Profile(name, region: "us-east-1", endpoint: URL(string: "http://127.0.0.1:9")!, as: .admin)
            p.accessKeyId = "AKIDDOWN"
            p.secretAccessKey = "downsecret"
            return p
        }

        var text: String {
            """
            [profile \(name)]
            region = \(region)
            endpoint_url = \(endpoint)
            aws_access_key_id = \(accessKeyId)
            aws_secret_access_key = \(secretAccessKey)

            """
        }
    }

    /// Writes `home/.aws/config` with `profiles`, creating the folder.
    public static func write(_ profiles: [Profile], home: URL) throws {
        let folder = home.appendingPathComponent(".aws")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data(profiles.map(\.text).joined(separator: "\n").utf8).write(to: folder.appendingPathComponent("config"))
    }
}
