import CKSDomain
import Foundation

/// A context: where the client goes and as whom, named as the operator picks it (`:ctx`, `--context`,
/// `CKS_CONTEXT`): every profile of `~/.aws/config` and `~/.aws/credentials`, the embedded core (`embedded`) and the
/// `--endpoint` of the command line (`endpoint`). The region is the context's own (the profile's) until the
/// operator picks another.
public struct ClientContext: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable { case profile, embedded, endpoint }

    public var name: String
    public var kind: Kind
    /// The context resolved the AWS way; nil when resolving failed (`problem` says why).
    public var configuration: ClientConfiguration?
    /// Why the context cannot be used as it is (an SSO profile, a role on AWS, a malformed endpoint); nil when usable.
    public var problem: String?
    /// What opens it (with the context's own region; `flags(region:)` picks another).
    public var flags: ClientFlags

    public var region: String { configuration?.region ?? ClientConfigurationResolver.defaultRegion }

    public init(name: String, kind: Kind, configuration: ClientConfiguration?, problem: String?, flags: ClientFlags) {
        self.name = name; self.kind = kind; self.configuration = configuration; self.problem = problem; self.flags = flags
    }

    /// The endpoint as a list shows it (`embedded` for the core in the process).
    public var endpointText: String {
        switch configuration?.endpoint {
        case .remote(let url)?: return url.absoluteString
        case .embedded?: return "embedded"
        case nil: return "-"
        }
    }

    /// The flags that open this context in `region` (nil: its own).
    public func flags(region: String?) -> ClientFlags {
        var f = flags
        if let region { f.region = region }
        return f
    }
}

/// Every context the client can build, in the order the list shows them: `default`, the other profiles by name,
/// then `embedded`, then `endpoint` when `--endpoint` was given.
public struct ClientContextCatalog: Sendable {
    public static let embeddedName = "embedded"
    public static let endpointName = "endpoint"

    public var contexts: [ClientContext]

    /// - Parameter commandLine: the flags of the command line; its `--endpoint` adds the `endpoint` context.
    public init(resolver: ClientConfigurationResolver, commandLine: ClientFlags = ClientFlags()) {
        var contexts: [ClientContext] = []
        let config = SharedConfigFile(contentsOf: resolver.configFileURL)
        let credentials = SharedConfigFile(contentsOf: resolver.credentialsFileURL)
        for name in Self.profileNames(config: config, credentials: credentials) {
            contexts.append(Self.make(name, .profile, ClientFlags(profile: name), resolver))
        }
        contexts.append(Self.make(Self.embeddedName, .embedded, ClientFlags(embedded: true), resolver))
        if let endpoint = commandLine.endpoint {
            contexts.append(Self.make(Self.endpointName, .endpoint,
                                      ClientFlags(endpoint: endpoint, profile: commandLine.profile), resolver))
        }
        self.contexts = contexts
    }

    public init(contexts: [ClientContext]) { self.contexts = contexts }

    public func context(named name: String) -> ClientContext? { contexts.first { $0.name == name } }

    /// The flags that open context `name` with the command line's region (if it gave one).
    /// - Throws: `ClientConfigurationError` naming the contexts there are, when there is none of that name.
    public func flags(forContext name: String, commandLine: ClientFlags) throws -> ClientFlags {
        guard let context = context(named: name) else {
            throw ClientConfigurationError("No context named \(name); there are: "
                + contexts.map(\.name).joined(separator: ", "))
        }
        var flags = context.flags(region: commandLine.region)
        flags.context = name
        return flags
    }

    /// The name of the context that `flags` open, resolved as `configuration`: `endpoint` for `--endpoint`,
    /// `embedded` when nothing names an endpoint and no profile was asked for, else the profile.
    public static func name(of configuration: ClientConfiguration, flags: ClientFlags) -> String {
        if let name = flags.context { return name }
        if flags.endpoint != nil { return endpointName }
        if flags.embedded { return embeddedName }
        if case .embedded = configuration.endpoint, configuration.sources["profile"] == "default" { return embeddedName }
        return configuration.profile
    }

    /// Profiles of the config file (`[default]`, `[profile NAME]`) and of the credentials file (`[NAME]`).
    static func profileNames(config: SharedConfigFile, credentials: SharedConfigFile) -> [String] {
        var names = Set<String>()
        for header in config.sections.keys {
            if header == "default" { names.insert("default") }
            else if header.hasPrefix("profile ") {
                let name = header.dropFirst("profile ".count).trimmingCharacters(in: .whitespaces)
                if !name.isEmpty { names.insert(name) }
            }
        }
        for header in credentials.sections.keys where !header.contains(" ") { names.insert(header) }
        return names.sorted { ($0 == "default" ? 0 : 1, $0) < ($1 == "default" ? 0 : 1, $1) }
    }

    private static func make(_ name: String, _ kind: ClientContext.Kind, _ flags: ClientFlags,
                             _ resolver: ClientConfigurationResolver) -> ClientContext {
        var flags = flags
        flags.context = name
        do {
            let configuration = try resolver.resolve(flags)
            var problem = configuration.credentialsProblem
            if problem == nil, case .remote(let url) = configuration.endpoint, configuration.credentials == nil {
                problem = "no credentials for \(url.absoluteString) (profile \(configuration.profile) has no keys)"
            }
            return ClientContext(name: name, kind: kind, configuration: configuration, problem: problem, flags: flags)
        } catch {
            return ClientContext(name: name, kind: kind, configuration: nil, problem: "\(error)", flags: flags)
        }
    }
}

/// The context used last, remembered in the state directory (`$XDG_STATE_HOME/cks/context`) so the console opens
/// where the operator left it. Context name and region, one line each; unreadable state is no state.
public struct ContextMemory: Sendable {
    public var url: URL?

    public init(paths: CKSPaths) { url = paths.stateDirectory?.appendingPathComponent("context") }
    public init(url: URL?) { self.url = url }

    public func load() -> (context: String, region: String?)? {
        guard let url, let data = FileManager.default.contents(atPath: url.path),
              let text = String(data: data, encoding: .utf8) else { return nil }
        let lines = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
        guard let first = lines.first, !first.isEmpty else { return nil }
        return (first, lines.count > 1 && !lines[1].isEmpty ? lines[1] : nil)
    }

    /// Best effort: a state directory that cannot be written leaves the choice unremembered.
    public func save(context: String, region: String) {
        guard let url else { return }
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o700])
        try? Data("\(context)\n\(region)\n".utf8).write(to: url, options: .atomic)
    }
}
