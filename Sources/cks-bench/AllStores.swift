import CKSClient
import CKSConsole
import CKSEmbedded
import CKSTeardown
import CKSWire
import Foundation

extension Bench {
    /// `:stores all` over 4 contexts × 2 regions against local cores: 4 cores (one account each), 3 stores per
    /// region; the console's own driver (ConsoleApp on a 160×48 MemorySurface) from the command to the frame drawn
    /// with every context/region answered.
    func allStoresFirstFrame() async throws {
        Host.log("contexts: the all-stores view over 4 contexts × 2 regions")
        let regions = ["us-east-1", "eu-west-1"]
        var cores: [EmbeddedCore] = []
        defer { for core in cores { Task { await core.shutdown() } } }
        var contexts: [ClientContext] = []
        for i in 0..<4 {
            let core = try await EmbeddedCore.startTemporary(options: EmbeddedCore.engineOptions, prefix: "cks-bench-ctx")
            cores.append(core)
            for region in regions {
                let client = KMSClient(endpoint: core.endpoint, region: region, credentials: core.credentials)
                defer { client.shutdown() }
                for s in 0..<3 {
                    let password = "kmsuser-\(i)-\(s)"
                    let cluster = try await client.createCloudHsmCluster(kmsUserPassword: password)
                    _ = try await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                        customKeyStoreName: "ctx\(i)-\(region)-\(s)", cloudHsmClusterId: cluster.clusterId,
                        trustAnchorCertificate: cluster.trustAnchorCertificate, keyStorePassword: password,
                        customKeyStoreType: .awsCloudHsm))
                }
            }
            let configuration = ClientConfiguration(endpoint: .remote(core.endpoint), region: regions[0], profile: "ctx\(i)",
                                                    credentials: core.credentials)
            contexts.append(ClientContext(name: "ctx\(i)", kind: .profile, configuration: configuration, problem: nil,
                                          flags: ClientFlags(context: "ctx\(i)")))
        }
        var frames: [Double] = []
        for _ in 0..<max(3, config.runs) {
            frames.append(await Self.allStoresDriver(contexts: contexts, regions: regions) * 1000)
        }
        figure("4 console", "all-stores view first complete frame, 4 contexts × 2 regions (driver)", "ms", frames,
               note: ":stores all → every context/region answered and drawn; 4 local cores, 24 stores; ConsoleApp on a 160×48 MemorySurface")
    }

    @MainActor
    static func allStoresDriver(contexts: [ClientContext], regions: [String]) async -> Double {
        let first = contexts[0].configuration!
        let prepared = BackendFactory.remote(url: URL(string: contexts[0].endpointText)!, region: first.region,
                                             credentials: first.credentials!)
        let app = ConsoleApp(backend: prepared.backend, inbox: prepared.inbox)
        app.contexts = ContextSwitching(
            catalog: ClientContextCatalog(contexts: contexts),
            open: { _, _, _ in throw BackendError.other("not used") },
            session: { context in
                let c = context.configuration!
                return FixedClientSession(client: KMSClient(endpoint: URL(string: context.endpointText)!, region: c.region,
                                                            credentials: c.credentials!), configuration: c)
            },
            allStoresRegions: regions)
        let surface = MemorySurface(width: 160, height: 48)
        app.start()
        await app.settle(on: surface)
        let clock = ContinuousClock()
        let t0 = clock.now
        app.run("stores all")
        await app.settle(on: surface)
        let elapsed = (clock.now - t0).benchSeconds
        await prepared.stop()
        return elapsed
    }
}
