import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Testing

/// Counts of what the soak did, from many tasks.
private final class SoakCounters: @unchecked Sendable {
    private let lock = NSLock()
    private var counts: [String: Int] = [:]
    private var failures: [String] = []
    func add(_ name: String, _ n: Int = 1) { lock.withLock { counts[name, default: 0] += n } }
    func fail(_ text: String) { lock.withLock { if failures.count < 20 { failures.append(text) } } }
    var snapshot: ([String: Int], [String]) { lock.withLock { (counts, failures) } }
}

extension Reliability {
    /// A mixed workload for a while (60 s in CI, 10 minutes with CKS_LONG=1): reads, whole teardown cycles,
    /// connects and disconnects, and the console polling (under tmux when it is installed). The core's RSS and
    /// open file descriptors are sampled every second and must be flat at the end.
    @Suite struct Soak {
        @Test func mixedWorkloadStaysFlat() async throws {
            let duration: Duration = .seconds(Int(ProcessInfo.processInfo.environment["CKS_SOAK_SECONDS"] ?? "")
                ?? Scale.pick(ci: 60, long: 600))
            try await withServe { core in
                let admin = core.client()
                let steady = try await Fixtures.makeStore(admin, name: "soak-steady")
                try await Fixtures.connect(admin, steady)
                let steadyKeys = try await Fixtures.makeKeys(admin, storeId: steady, count: 50)
                let flapping = try await Fixtures.makeStore(admin, name: "soak-flapping")
                let counters = SoakCounters()
                let endpoint = core.endpoint, credentials = core.admin.credentials
                let pid = core.pid
                let deadline = ContinuousClock.now + duration
                func client() -> KMSClient {
                    KMSClient(endpoint: endpoint, region: "us-east-1", credentials: credentials, retryPolicy: RetryPolicy())
                }

                // The console against this core, polling as it does, when tmux is here.
                var console: TmuxSession?
                if TmuxSession.available, let binary = Locations.cksBinary {
                    let scratch = try TemporaryDirectory(prefix: "cks-rel-soak")
                    console = try? await TmuxSession.start(
                        shell: [binary.path, "--endpoint", endpoint.absoluteString, "--region", "us-east-1"]
                            .map(TmuxSession.quote).joined(separator: " "),
                        environment: ["AWS_ACCESS_KEY_ID": credentials.accessKeyId,
                                      "AWS_SECRET_ACCESS_KEY": credentials.secretAccessKey,
                                      "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                      "XDG_CONFIG_HOME": scratch.url.path, "XDG_STATE_HOME": scratch.url.path])
                }

                let samples = try await withThrowingTaskGroup(of: ResourceSamples?.self) { group in
                    group.addTask {
                        var samples = ResourceSamples()
                        while ContinuousClock.now < deadline {
                            samples.sample(pid)
                            try? await Task.sleep(for: .seconds(1))
                        }
                        samples.sample(pid)
                        return samples
                    }
                    // Readers.
                    for reader in 0..<2 {
                        group.addTask {
                            let c = client()
                            var random = SplitMix64(seed: Scale.seed &+ UInt64(reader))
                            while ContinuousClock.now < deadline {
                                do {
                                    _ = try await c.listKeys(limit: 100)
                                    _ = try await c.describeCustomKeyStores()
                                    _ = try await c.describeKey(keyId: steadyKeys.randomElement(using: &random)!)
                                    _ = try await c.listAliases()
                                    counters.add("reads", 4)
                                } catch { counters.fail("read: \(error)") }
                            }
                            return nil
                        }
                    }
                    // Whole teardown cycles: create, connect, fill, schedule, wait out the window, disconnect, delete.
                    group.addTask {
                        let c = client()
                        var cycle = 0
                        while ContinuousClock.now < deadline {
                            do {
                                let store = try await Fixtures.makeStore(c, name: "soak-cycle-\(cycle)")
                                try await Fixtures.connect(c, store)
                                let keys = try await Fixtures.makeKeys(c, storeId: store, count: 20, concurrency: 4)
                                if let alias = keys.first { try await c.createAlias(aliasName: "alias/soak-\(cycle)", targetKeyId: alias) }
                                try await Fixtures.tearDown(c, storeId: store)
                                counters.add("teardown cycles")
                                counters.add("keys created and deleted", keys.count)
                            } catch { counters.fail("teardown cycle \(cycle): \(error)") }
                            cycle += 1
                        }
                        return nil
                    }
                    // Connect / disconnect flapping on a store of its own.
                    group.addTask {
                        let c = client()
                        while ContinuousClock.now < deadline {
                            do {
                                try await c.connectCustomKeyStore(id: flapping)
                                try await c.advanceClock(seconds: 3600)
                                try await c.disconnectCustomKeyStore(id: flapping)
                                try await c.advanceClock(seconds: 120)
                                counters.add("connect/disconnect cycles")
                            } catch let error as KMSClientError where error.code == .customKeyStoreInvalidState {
                                // Another task's clock advance can race ours; the state is still legal.
                                counters.add("connect/disconnect raced")
                            } catch { counters.fail("flapping: \(error)") }
                        }
                        return nil
                    }
                    var result = ResourceSamples()
                    for try await samples in group { if let samples { result = samples } }
                    return result
                }

                if let console {
                    let screen = (try? await console.capture()) ?? ""
                    let info = try? await console.paneInfo()
                    #expect(info?.dead == false, "the console kept running through the soak:\n\(screen)")
                    try? await console.send(["q"])
                    await console.kill()
                }
                let (counts, failures) = counters.snapshot
                #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
                let (problems, _) = try await Invariants.checkAPI(admin)
                #expect(problems.isEmpty, "\(problems.prefix(10))")
                #expect(try Invariants.checkDatabase(at: core.databaseFile).isEmpty)
                #expect(samples.rssGrowthKiB < 16 * 1024, "RSS not flat: \(samples.summary)")
                let fdPlateau = ResourceSamples.median(samples.files, from: 0.2, to: 0.4)
                let fdEnd = ResourceSamples.median(samples.files, from: 0.8, to: 1.0)
                #expect(fdEnd <= fdPlateau + 8, "open files not flat: \(samples.summary)")
                reportFigure("soak", "\(duration) mixed workload (console \(console == nil ? "not run: no tmux" : "polling")): "
                    + counts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    + "; \(samples.summary)")
            }
        }
    }
}
