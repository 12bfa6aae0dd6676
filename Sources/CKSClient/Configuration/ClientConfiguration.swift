import CKSWire
import Foundation

/// What the command line said: `--endpoint`, `--profile`, `--region`. Each wins over everything else.
public struct ClientFlags: Sendable, Hashable {
    public var endpoint: String?
    public var profile: String?
    public var region: String?
    /// The context to use (`--context`, else `CKS_CONTEXT`): a profile's name, `embedded` or `endpoint`
    /// (see `ClientContextCatalog`). Resolved into `profile`/`embedded` by the catalog before `resolve`.
    public var context: String?
    /// Ignore every configured endpoint and use the embedded core (the `embedded` context).
    public var embedded: Bool

    public init(endpoint: String? = nil, profile: String? = nil, region: String? = nil, context: String? = nil,
                embedded: Bool = false) {
        self.endpoint = endpoint
        self.profile = profile
        self.region = region
        self.context = context
        self.embedded = embedded
    }
}

/// Where the client will talk to, as signed by whom. Produced by `ClientConfigurationResolver`.
public struct ClientConfiguration: Sendable, Hashable {
    public enum Endpoint: Sendable, Hashable {
        /// An endpoint that was configured somewhere (flag, environment or config file).
        case remote(URL)
        /// Nothing configured: the caller starts a core in-process and uses its admin principal
        /// (see `EmbeddedCore` in CKSConsole).
        case embedded
    }

    public var endpoint: Endpoint
    public var region: String
    /// The profile in effect (`default` unless a flag or `AWS_PROFILE` chose another).
    public var profile: String
    /// nil when none were found; `.embedded` does not need them (the embedded core supplies its admin principal).
    public var credentials: AWSCredentials?
    /// Where each value came from (`endpoint`, `region`, `credentials`), e.g. "--endpoint", "AWS_REGION",
    /// "~/.aws/credentials [dev]", "default". For `cks` diagnostics and tests.
    public var sources: [String: String]
    /// Why the profile's credentials could not be resolved (an SSO session, a role to assume through STS, a
    /// failing credential_process), in words that say what to do; nil when nothing was left unresolved.
    public var credentialsProblem: String?
    /// The account the profile names (`aws_account_id`, `sso_account_id`), when it names one.
    public var account: String?

    public init(endpoint: Endpoint, region: String, profile: String = "default", credentials: AWSCredentials?,
                sources: [String: String] = [:], credentialsProblem: String? = nil, account: String? = nil) {
        self.endpoint = endpoint
        self.region = region
        self.profile = profile
        self.credentials = credentials
        self.sources = sources
        self.credentialsProblem = credentialsProblem
        self.account = account
    }
}

/// A configuration problem that stops the client before any request.
public struct ClientConfigurationError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Resolves endpoint, region and credentials the way the AWS CLI and botocore do, in this order:
///
/// - endpoint: `--endpoint`, `AWS_ENDPOINT_URL_KMS`, `AWS_ENDPOINT_URL`, the profile's `services` section
///   (`kms = / endpoint_url = …`), the profile's `endpoint_url`; none → `.embedded`.
///   `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true` (or the profile's `ignore_configured_endpoint_urls`) skips all
///   but the flag, as in the AWS tools.
/// - profile: `--profile`, `AWS_PROFILE`, `AWS_DEFAULT_PROFILE`, `default`.
/// - region: `--region`, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` in the config file,
///   then `us-east-1` (the core's default region; the AWS CLI would refuse instead).
/// - credentials: `AWS_ACCESS_KEY_ID` + `AWS_SECRET_ACCESS_KEY` (+ `AWS_SESSION_TOKEN`) unless `--profile` was
///   given (botocore: an explicit profile negates the environment provider), then the profile in the credentials
///   file, then the profile in the config file.
///
/// Files: `AWS_SHARED_CREDENTIALS_FILE` (default `~/.aws/credentials`) and `AWS_CONFIG_FILE` (default
/// `~/.aws/config`); `~` expands to `homeDirectory`. Environment and home are injectable for tests.
public struct ClientConfigurationResolver: Sendable {
    public static let defaultRegion = "us-east-1"
    public var environment: [String: String]
    public var homeDirectory: URL

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, homeDirectory: URL? = nil) {
        self.environment = environment
        self.homeDirectory = homeDirectory
            ?? environment["HOME"].map { URL(fileURLWithPath: $0, isDirectory: true) }
            ?? FileManager.default.homeDirectoryForCurrentUser
    }

    public var credentialsFileURL: URL { expand(env("AWS_SHARED_CREDENTIALS_FILE") ?? "~/.aws/credentials") }
    public var configFileURL: URL { expand(env("AWS_CONFIG_FILE") ?? "~/.aws/config") }

    /// - Parameter service: the service whose endpoint is resolved: `kms` (`AWS_ENDPOINT_URL_KMS`, services
    ///   `kms = endpoint_url`) or `cloudtrail` (`AWS_ENDPOINT_URL_CLOUDTRAIL`, services `cloudtrail = endpoint_url`).
    public func resolve(_ flags: ClientFlags = ClientFlags(), service: String = "kms") throws -> ClientConfiguration {
        let serviceVariable = "AWS_ENDPOINT_URL_" + service.uppercased()
        var sources: [String: String] = [:]
        let config = SharedConfigFile(contentsOf: configFileURL)
        let credentialsFile = SharedConfigFile(contentsOf: credentialsFileURL)

        // Profile.
        let profile: String
        let explicitProfile: Bool
        if let p = nonEmpty(flags.profile) { profile = p; explicitProfile = true; sources["profile"] = "--profile" }
        else if let p = env("AWS_PROFILE") { profile = p; explicitProfile = true; sources["profile"] = "AWS_PROFILE" }
        else if let p = env("AWS_DEFAULT_PROFILE") { profile = p; explicitProfile = true; sources["profile"] = "AWS_DEFAULT_PROFILE" }
        else { profile = "default"; explicitProfile = false; sources["profile"] = "default" }
        let configProfile = config.configProfile(profile)
        let credentialsProfile = credentialsFile.credentialsProfile(profile)
        if explicitProfile, configProfile == nil, credentialsProfile == nil {
            throw ClientConfigurationError("The config profile (\(profile)) could not be found")
        }
        let configName = "\(display(configFileURL)) [\(profile == "default" ? "default" : "profile \(profile)")]"
        let credentialsName = "\(display(credentialsFileURL)) [\(profile)]"

        // Endpoint.
        let endpoint: ClientConfiguration.Endpoint
        let ignoreConfigured = isTrue(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"))
            || isTrue(configProfile?["ignore_configured_endpoint_urls"])
        var endpointCandidates: [(String?, String)] = [(flags.endpoint, "--endpoint")]
        if !ignoreConfigured {
            let servicesName = configProfile?["services"]
            endpointCandidates += [
                (env(serviceVariable), serviceVariable),
                (env("AWS_ENDPOINT_URL"), "AWS_ENDPOINT_URL"),
                (servicesName.flatMap { config.services($0)?["\(service).endpoint_url"] },
                 "\(display(configFileURL)) [services \(servicesName ?? "")] \(service)"),
                (configProfile?["endpoint_url"], configName),
            ]
        }
        if flags.embedded {
            endpoint = .embedded
            sources["endpoint"] = "embedded"
        } else if let (value, source) = endpointCandidates.first(where: { nonEmpty($0.0) != nil }), let text = value {
            endpoint = .remote(try Self.parseEndpoint(text, source: source))
            sources["endpoint"] = source
        } else {
            endpoint = .embedded
            sources["endpoint"] = "embedded"
        }

        // Region.
        let region: String
        if let r = nonEmpty(flags.region) { region = r; sources["region"] = "--region" }
        else if let r = env("AWS_REGION") { region = r; sources["region"] = "AWS_REGION" }
        else if let r = env("AWS_DEFAULT_REGION") { region = r; sources["region"] = "AWS_DEFAULT_REGION" }
        else if let r = nonEmpty(configProfile?["region"]) { region = r; sources["region"] = configName }
        else { region = Self.defaultRegion; sources["region"] = "default" }

        // Credentials.
        var credentials: AWSCredentials?
        if nonEmpty(flags.profile) == nil, let id = env("AWS_ACCESS_KEY_ID"), let secret = env("AWS_SECRET_ACCESS_KEY") {
            credentials = AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: env("AWS_SESSION_TOKEN"))
            sources["credentials"] = "AWS_ACCESS_KEY_ID"
        } else if let c = Self.credentials(in: credentialsProfile) {
            credentials = c
            sources["credentials"] = credentialsName
        } else if let c = Self.credentials(in: configProfile) {
            credentials = c
            sources["credentials"] = configName
        }
        var problem: String?
        if credentials == nil, let configProfile {
            switch ProfileCredentials.resolve(profile: profile, section: configProfile, endpoint: endpoint,
                                              config: config, credentialsFile: credentialsFile,
                                              configName: { self.configSectionName($0) }) {
            case .resolved(let c, let source): credentials = c; sources["credentials"] = source
            case .unsupported(let why): problem = why
            case .none: break
            }
        }
        let account = nonEmpty(configProfile?["aws_account_id"]) ?? nonEmpty(configProfile?["sso_account_id"])
        return ClientConfiguration(endpoint: endpoint, region: region, profile: profile, credentials: credentials,
                                   sources: sources, credentialsProblem: problem, account: account)
    }

    /// `~/.aws/config [profile NAME]` (or `[default]`), as messages name a profile's section.
    func configSectionName(_ profile: String) -> String {
        "\(display(configFileURL)) [\(profile == "default" ? "default" : "profile \(profile)")]"
    }

    /// `http://host:port` or `https://…`; a bare `host:port` is taken as `http://host:port`, since the core
    /// speaks plain HTTP on loopback.
    public static func parseEndpoint(_ text: String, source: String) throws -> URL {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let withScheme = trimmed.contains("://") ? trimmed : "http://\(trimmed)"
        guard let url = URL(string: withScheme), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            throw ClientConfigurationError("Invalid endpoint from \(source): \(text)")
        }
        return url
    }

    static func credentials(in section: SharedConfigFile.Section?) -> AWSCredentials? {
        guard let section, let id = section["aws_access_key_id"], !id.isEmpty,
              let secret = section["aws_secret_access_key"], !secret.isEmpty else { return nil }
        let token = section["aws_session_token"].flatMap { $0.isEmpty ? nil : $0 }
        return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: token)
    }

    private func env(_ name: String) -> String? { nonEmpty(environment[name]) }

    private func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }

    private func isTrue(_ value: String?) -> Bool { value?.lowercased() == "true" }

    private func expand(_ path: String) -> URL {
        if path == "~" { return homeDirectory }
        if path.hasPrefix("~/") { return homeDirectory.appendingPathComponent(String(path.dropFirst(2))) }
        return URL(fileURLWithPath: path)
    }

    private func display(_ url: URL) -> String {
        let home = homeDirectory.path.hasSuffix("/") ? homeDirectory.path : homeDirectory.path + "/"
        return url.path.hasPrefix(home) ? "~/" + url.path.dropFirst(home.count) : url.path
    }
}
