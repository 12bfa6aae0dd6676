import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// A throw-away HOME with optional ~/.aws files, removed when the test ends.
final class TemporaryHome {
    let url: URL

    init(config: String? = nil, credentials: String? = nil) throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("cks-home-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        if let config { try write(config, to: ".aws/config") }
        if let credentials { try write(credentials, to: ".aws/credentials") }
    }

    @discardableResult
    func write(_ text: String, to relative: String) throws -> URL {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(text.utf8).write(to: file)
        return file
    }

    func resolver(_ env: [String: String] = [:]) -> ClientConfigurationResolver {
        ClientConfigurationResolver(environment: env, homeDirectory: url)
    }

    deinit { try? FileManager.default.removeItem(at: url) }
}

@Suite struct ConfigurationResolutionTests {
    static let config = """
    [default]
    region = eu-west-1
    endpoint_url = http://127.0.0.1:7000

    [profile dev]
    region = ap-south-1
    services = local-kms
    aws_access_key_id = AKIDCONFIGDEV
    aws_secret_access_key = configsecret

    [profile plain]
    region = us-west-2 ; trailing comment

    [services local-kms]
    kms =
      endpoint_url = http://127.0.0.1:7100
    s3 =
      endpoint_url = http://127.0.0.1:9000
    """
    static let credentials = """
    # comment
    [default]
    aws_access_key_id = AKIDDEFAULT
    aws_secret_access_key = defaultsecret

    [dev]
    aws_access_key_id = AKIDDEV
    aws_secret_access_key = devsecret
    aws_session_token = devtoken
    """

    @Test func nothingConfiguredMeansEmbedded() throws {
        let home = try TemporaryHome()
        let c = try home.resolver().resolve()
        #expect(c.endpoint == .embedded)
        #expect(c.region == "us-east-1")
        #expect(c.profile == "default")
        #expect(c.credentials == nil)
        #expect(c.sources["endpoint"] == "embedded")
    }

    @Test func defaultProfileFromFiles() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let c = try home.resolver().resolve()
        #expect(c.endpoint == .remote(URL(string: "http://127.0.0.1:7000")!))
        #expect(c.region == "eu-west-1")
        #expect(c.credentials == AWSCredentials(accessKeyId: "AKIDDEFAULT", secretAccessKey: "defaultsecret"))
        #expect(c.sources["credentials"] == "~/.aws/credentials [default]")
    }

    @Test func flagsWinOverEverything() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let env = ["AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:1", "AWS_ENDPOINT_URL": "http://127.0.0.1:2",
                   "AWS_REGION": "sa-east-1", "AWS_PROFILE": "plain",
                   "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret"]
        let c = try home.resolver(env).resolve(ClientFlags(endpoint: "http://127.0.0.1:9999", profile: "dev", region: "ca-central-1"))
        #expect(c.endpoint == .remote(URL(string: "http://127.0.0.1:9999")!))
        #expect(c.region == "ca-central-1")
        #expect(c.profile == "dev")
        // An explicit --profile negates the environment's keys (botocore's rule).
        #expect(c.credentials == AWSCredentials(accessKeyId: "AKIDDEV", secretAccessKey: "devsecret", sessionToken: "devtoken"))
    }

    @Test func serviceSpecificEnvironmentEndpointBeatsGlobal() throws {
        let home = try TemporaryHome(config: Self.config)
        let both = try home.resolver(["AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:1", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"]).resolve()
        #expect(both.endpoint == .remote(URL(string: "http://127.0.0.1:1")!))
        #expect(both.sources["endpoint"] == "AWS_ENDPOINT_URL_KMS")
        let global = try home.resolver(["AWS_ENDPOINT_URL": "http://127.0.0.1:2"]).resolve()
        #expect(global.endpoint == .remote(URL(string: "http://127.0.0.1:2")!))
    }

    @Test func servicesSectionBeatsProfileEndpoint() throws {
        let home = try TemporaryHome(config: Self.config + "\nendpoint_url = http://127.0.0.1:7999\n")
        // `dev` has a services section pointing kms at 7100.
        let c = try home.resolver(["AWS_PROFILE": "dev"]).resolve()
        #expect(c.endpoint == .remote(URL(string: "http://127.0.0.1:7100")!))
        #expect(c.region == "ap-south-1")
    }

    @Test func ignoreConfiguredEndpointsKeepsOnlyTheFlag() throws {
        let home = try TemporaryHome(config: Self.config)
        let env = ["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS": "true", "AWS_ENDPOINT_URL": "http://127.0.0.1:2"]
        #expect(try home.resolver(env).resolve().endpoint == .embedded)
        #expect(try home.resolver(env).resolve(ClientFlags(endpoint: "127.0.0.1:5")).endpoint
                == .remote(URL(string: "http://127.0.0.1:5")!))
    }

    @Test func awsProfileEnvironmentKeepsEnvironmentKeys() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let env = ["AWS_PROFILE": "dev", "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_SECRET_ACCESS_KEY": "envsecret",
                   "AWS_SESSION_TOKEN": "envtoken"]
        let c = try home.resolver(env).resolve()
        #expect(c.profile == "dev")
        #expect(c.credentials == AWSCredentials(accessKeyId: "AKIDENV", secretAccessKey: "envsecret", sessionToken: "envtoken"))
        #expect(c.region == "ap-south-1")
    }

    @Test func regionOrder() throws {
        let home = try TemporaryHome(config: Self.config)
        #expect(try home.resolver(["AWS_REGION": "r1", "AWS_DEFAULT_REGION": "r2"]).resolve().region == "r1")
        #expect(try home.resolver(["AWS_DEFAULT_REGION": "r2"]).resolve().region == "r2")
        #expect(try home.resolver(["AWS_PROFILE": "plain"]).resolve().region == "us-west-2")
        #expect(try home.resolver().resolve().region == "eu-west-1")
    }

    @Test func incompleteEnvironmentKeysAreIgnored() throws {
        let home = try TemporaryHome(credentials: Self.credentials)
        let c = try home.resolver(["AWS_ACCESS_KEY_ID": "AKIDONLY"]).resolve()
        #expect(c.credentials?.accessKeyId == "AKIDDEFAULT")
    }

    @Test func credentialsFileBeatsConfigFileForKeys() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        #expect(try home.resolver(["AWS_PROFILE": "dev"]).resolve().credentials?.accessKeyId == "AKIDDEV")
        let configOnly = try TemporaryHome(config: Self.config)
        #expect(try configOnly.resolver(["AWS_PROFILE": "dev"]).resolve().credentials?.accessKeyId == "AKIDCONFIGDEV")
    }

    @Test func fileLocationsAreOverridable() throws {
        let home = try TemporaryHome()
        let config = try home.write("[profile x]\nregion = eu-north-1\nendpoint_url = http://127.0.0.1:4566\n", to: "elsewhere/cfg")
        let creds = try home.write("[x]\naws_access_key_id = AKIDX\naws_secret_access_key = xs\n", to: "elsewhere/creds")
        let env = ["AWS_CONFIG_FILE": config.path, "AWS_SHARED_CREDENTIALS_FILE": creds.path, "AWS_PROFILE": "x"]
        let c = try home.resolver(env).resolve()
        #expect(c.region == "eu-north-1")
        #expect(c.endpoint == .remote(URL(string: "http://127.0.0.1:4566")!))
        #expect(c.credentials?.accessKeyId == "AKIDX")
        // `~` in the override expands to the (injected) home.
        let tilde = try home.resolver(["AWS_CONFIG_FILE": "~/elsewhere/cfg", "AWS_PROFILE": "x"]).resolve()
        #expect(tilde.region == "eu-north-1")
    }

    @Test func unknownExplicitProfileIsAnError() throws {
        let home = try TemporaryHome(config: Self.config)
        #expect(throws: ClientConfigurationError.self) { try home.resolver(["AWS_PROFILE": "nope"]).resolve() }
        #expect(throws: ClientConfigurationError.self) { try home.resolver().resolve(ClientFlags(profile: "nope")) }
    }

    @Test func badEndpointIsAnError() throws {
        let home = try TemporaryHome()
        #expect(throws: ClientConfigurationError.self) { try home.resolver().resolve(ClientFlags(endpoint: "ftp://x")) }
        #expect(throws: ClientConfigurationError.self) { try home.resolver(["AWS_ENDPOINT_URL": "http://"]).resolve() }
    }

    @Test func bareHostPortGetsHTTP() throws {
        #expect(try ClientConfigurationResolver.parseEndpoint("localhost:7911", source: "t") == URL(string: "http://localhost:7911")!)
    }

    @Test func parserHandlesOddInput() {
        let parsed = SharedConfigFile(parsing: "junk before any section\n[ spaced ]\nKEY=Value\n  stray indented = x\n[empty]\n=novalue\n\r\n")
        #expect(parsed.sections["spaced"]?["key"] == "Value")
        #expect(parsed.sections["empty"] == [:])
    }
}
