import CKSDomain
import CKSTestSupport
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// Contexts from ~/.aws/config and ~/.aws/credentials: every profile with its own region and endpoint, the
/// source_profile chain, credential_process, and the profiles the client cannot resolve (said, not guessed).
@Suite struct ClientContextTests {
    static let config = """
    [default]
    region = us-east-1
    endpoint_url = http://127.0.0.1:7000

    [profile prod]
    region = eu-west-1
    services = local
    aws_account_id = 444455556666

    [profile prod-role]
    role_arn = arn:aws:iam::444455556666:role/operator
    source_profile = prod
    region = eu-central-1
    endpoint_url = http://127.0.0.1:7200

    [profile aws-role]
    role_arn = arn:aws:iam::444455556666:role/operator
    source_profile = prod
    endpoint_url = https://kms.eu-west-1.amazonaws.com

    [profile loop-a]
    role_arn = arn:aws:iam::111122223333:role/a
    source_profile = loop-b
    endpoint_url = http://127.0.0.1:7000

    [profile loop-b]
    role_arn = arn:aws:iam::111122223333:role/b
    source_profile = loop-a

    [profile sso]
    sso_session = corp
    sso_account_id = 111122223333
    region = us-west-2
    endpoint_url = http://127.0.0.1:7000

    [profile process]
    credential_process = printf '{"Version": 1, "AccessKeyId": "AKIDPROCESS", "SecretAccessKey": "processsecret"}'
    endpoint_url = http://127.0.0.1:7000

    [profile broken-process]
    credential_process = exit 3
    endpoint_url = http://127.0.0.1:7000

    [services local]
    kms =
      endpoint_url = http://127.0.0.1:7100
    """
    static let credentials = """
    [default]
    aws_access_key_id = AKIDDEFAULT
    aws_secret_access_key = defaultsecret

    [prod]
    aws_access_key_id = AKIDPROD
    aws_secret_access_key = prodsecret
    """

    @Test func everyProfileIsAContextWithItsOwnRegionAndEndpoint() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let catalog = ClientContextCatalog(resolver: home.resolver(), commandLine: ClientFlags(endpoint: "127.0.0.1:7300"))
        #expect(catalog.contexts.map(\.name) == ["default", "aws-role", "broken-process", "loop-a", "loop-b", "process",
                                                 "prod", "prod-role", "sso", "embedded", "endpoint"])
        let prod = try #require(catalog.context(named: "prod"))
        #expect(prod.region == "eu-west-1")
        #expect(prod.endpointText == "http://127.0.0.1:7100")
        #expect(prod.configuration?.credentials?.accessKeyId == "AKIDPROD")
        #expect(prod.configuration?.account == "444455556666")
        #expect(prod.problem == nil)
        #expect(catalog.context(named: "default")?.region == "us-east-1")
        #expect(catalog.context(named: "embedded")?.endpointText == "embedded")
        #expect(catalog.context(named: "endpoint")?.endpointText == "http://127.0.0.1:7300")
        // A context's region can be changed without touching the rest.
        #expect(prod.flags(region: "us-east-2").region == "us-east-2")
        #expect(prod.flags(region: "us-east-2").profile == "prod")
    }

    @Test func sourceProfileGivesTheKeysOnACoreAndIsRefusedOnAWS() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let catalog = ClientContextCatalog(resolver: home.resolver())
        let role = try #require(catalog.context(named: "prod-role"))
        #expect(role.problem == nil)
        #expect(role.region == "eu-central-1")
        #expect(role.configuration?.credentials?.accessKeyId == "AKIDPROD")
        #expect(role.configuration?.sources["credentials"]?.contains("source_profile prod") == true)

        let aws = try #require(catalog.context(named: "aws-role"))
        #expect(aws.configuration?.credentials == nil)
        #expect(aws.problem?.contains("STS AssumeRole") == true)

        let loop = try #require(catalog.context(named: "loop-a"))
        #expect(loop.problem?.contains("source_profile loops") == true)
    }

    @Test func ssoIsSaidClearlyAndCredentialProcessRuns() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let catalog = ClientContextCatalog(resolver: home.resolver())
        let sso = try #require(catalog.context(named: "sso"))
        #expect(sso.problem?.contains("IAM Identity Center") == true)
        #expect(sso.problem?.contains("aws configure export-credentials --profile sso") == true)
        #expect(sso.configuration?.account == "111122223333")

        let process = try #require(catalog.context(named: "process"))
        #expect(process.problem == nil)
        #expect(process.configuration?.credentials?.accessKeyId == "AKIDPROCESS")
        let broken = try #require(catalog.context(named: "broken-process"))
        #expect(broken.problem?.contains("exited with status 3") == true)
    }

    @Test func anUnknownContextNamesTheOnesThereAre() throws {
        let home = try TemporaryHome(config: Self.config, credentials: Self.credentials)
        let catalog = ClientContextCatalog(resolver: home.resolver())
        #expect(throws: ClientConfigurationError.self) { try catalog.flags(forContext: "nope", commandLine: ClientFlags()) }
        do { _ = try catalog.flags(forContext: "nope", commandLine: ClientFlags()) } catch {
            #expect("\(error)".contains("prod-role"))
        }
        let flags = try catalog.flags(forContext: "prod", commandLine: ClientFlags(region: "ap-south-1"))
        #expect(flags.profile == "prod" && flags.region == "ap-south-1" && flags.context == "prod")
    }

    @Test func theLastContextIsRemembered() throws {
        let home = try TemporaryHome()
        let paths = CKSPaths(environment: ["XDG_STATE_HOME": home.url.appendingPathComponent("state").path])
        let memory = ContextMemory(paths: paths)
        #expect(memory.load() == nil)
        memory.save(context: "prod", region: "eu-west-1")
        #expect(memory.load()?.context == "prod")
        #expect(memory.load()?.region == "eu-west-1")
        #expect(memory.url?.path.hasSuffix("state/cks/context") == true)
    }

    /// Profiles against one core holding two accounts, used in two regions: each profile signs as its own
    /// principal, and the credential scope's region selects the resources.
    @Test func profilesReachTwoAccountsAndTwoRegionsOnOneCore() async throws {
        let directory = try EmbeddedCoreDirectory.withPrincipals([.admin, .otherAccount])
        let core = try await InProcessCore.start(directory: directory)
        defer { try? FileManager.default.removeItem(at: directory) }
        do {
            let config = """
            [profile a]
            region = us-east-1
            endpoint_url = \(core.endpoint.absoluteString)
            aws_access_key_id = \(TestPrincipal.admin.accessKeyId)
            aws_secret_access_key = \(TestPrincipal.admin.secretAccessKey)

            [profile b-keys]
            aws_access_key_id = \(TestPrincipal.otherAccount.accessKeyId)
            aws_secret_access_key = \(TestPrincipal.otherAccount.secretAccessKey)

            [profile b]
            role_arn = arn:aws:iam::444455556666:role/operator
            source_profile = b-keys
            region = eu-west-1
            endpoint_url = \(core.endpoint.absoluteString)
            """
            let home = try TemporaryHome(config: config)
            let catalog = ClientContextCatalog(resolver: home.resolver())
            func client(_ name: String, region: String? = nil) throws -> KMSClient {
                let context = try #require(catalog.context(named: name))
                let configuration = try home.resolver().resolve(context.flags(region: region))
                return KMSClient(endpoint: core.endpoint, region: configuration.region,
                                 credentials: try #require(configuration.credentials))
            }
            let aEast = try client("a"), aWest = try client("a", region: "eu-west-1"), bWest = try client("b")
            defer { aEast.shutdown(); aWest.shutdown(); bWest.shutdown() }
            #expect(try await aEast.callerIdentity().account == "111122223333")
            #expect(try await bWest.callerIdentity().account == "444455556666")
            #expect(bWest.region == "eu-west-1")

            let cluster = try await aEast.createCloudHsmCluster(kmsUserPassword: "kmsuser-pass")
            _ = try await aEast.createCustomKeyStore(CreateCustomKeyStoreRequest(
                customKeyStoreName: "east-store", cloudHsmClusterId: cluster.clusterId,
                trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: "kmsuser-pass",
                customKeyStoreType: .awsCloudHsm))
            #expect(try await aEast.allCustomKeyStores().map(\.customKeyStoreName) == ["east-store"])
            #expect(try await aWest.allCustomKeyStores().isEmpty)
            #expect(try await bWest.allCustomKeyStores().isEmpty)
        } catch {
            await core.stop()
            throw error
        }
        await core.stop()
    }
}

/// A data directory holding a principals file, for a core started over it.
enum EmbeddedCoreDirectory {
    static func withPrincipals(_ principals: [TestPrincipal]) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-ctx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        try ServeProcess.writePrincipals(principals, to: directory.appendingPathComponent("principals.json"))
        return directory
    }
}
