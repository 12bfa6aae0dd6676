import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Testing

extension Reliability {
    /// The core killed under the client and the console: the outage is surfaced, nothing is retried in a way that
    /// changes the outcome, and the console keeps its screen and resumes.
    @Suite struct Outage {
        /// A bulk ScheduleKeyDeletion and a bulk CreateKey through the client (its default retry policy) while the core
        /// is killed: every item reports success or a transport failure, never an answer caused by a resend
        /// (KMSInvalidStateException "is pending deletion" on a key that was Enabled), and no CreateKey runs twice.
        @Test func clientSurfacesTheOutageAndNeverResendsMutations() async throws {
            let keyCount = Scale.pick(ci: 600, long: 3000)
            let rounds = Scale.pick(ci: 3, long: 10)
            let core = try await ServeProcess.start()
            var problems: [String] = []
            var random = SplitMix64(seed: Scale.seed &+ 11)
            do {
                var setup = core.client()
                let storeId = try await Fixtures.makeStore(setup, name: "outage-store")
                try await Fixtures.connect(setup, storeId)
                var summary: [String: Int] = [:]
                for _ in 0..<rounds {
                    // Bulk schedule, killed mid-way.
                    let keys = try await Fixtures.makeKeys(setup, storeId: storeId, count: keyCount / rounds)
                    let client = KMSClient(endpoint: core.endpoint, region: "us-east-1", credentials: core.admin.credentials,
                                           retryPolicy: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(20)), defaultTimeout: 10)
                    let bulk = Task { await client.scheduleKeyDeletion(keyIds: keys, pendingWindowInDays: 7) }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 30...200, using: &random)))
                    await core.kill()
                    let results = await bulk.value
                    try await core.restart()
                    setup = core.client()
                    let after = await setup.describeKeys(keyIds: keys)
                    for (item, seen) in zip(results, after) {
                        guard let key = seen.value else { problems.append("\(item.id) vanished: \(seen.error!)"); continue }
                        switch item.result {
                        case .success(let answer):
                            summary["schedule ok", default: 0] += 1
                            if key.keyState != .pendingDeletion || key.deletionDate != answer.deletionDate {
                                problems.append("\(item.id): answered PendingDeletion, is \(key.keyState?.rawValue ?? "?")")
                            }
                        case .failure(let error):
                            summary["schedule \(error.typeName)", default: 0] += 1
                            if error.isServiceError {
                                problems.append("\(item.id): a service answer during the outage (a resend?): \(error)")
                            } else if !error.requestMayHaveReachedServer, key.keyState != .enabled {
                                problems.append("\(item.id): reported never sent, but it was applied (\(key.keyState?.rawValue ?? "?"))")
                            }
                            if error.message.isEmpty { problems.append("\(item.id): the failure says nothing") }
                        }
                    }

                    // Bulk CreateKey, killed mid-way: no more keys than answered + uncertain calls.
                    let before = Set(try await setup.allKeys().compactMap(\.keyId))
                    let creator = KMSClient(endpoint: core.endpoint, region: "us-east-1", credentials: core.admin.credentials,
                                            retryPolicy: RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(20)), defaultTimeout: 10)
                    let creating = Task {
                        await creator.bulk(Array(0..<200).map(String.init), concurrency: 8) { (_: String) throws(KMSClientError) -> String in
                            try await creator.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId)).keyMetadata?.keyId ?? ""
                        }
                    }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 30...200, using: &random)))
                    await core.kill()
                    let created = await creating.value
                    try await core.restart()
                    setup = core.client()
                    let now = Set(try await setup.allKeys().compactMap(\.keyId)).subtracting(before)
                    let answered = Set(created.compactMap(\.value))
                    let uncertain = created.filter { $0.error?.requestMayHaveReachedServer == true }.count
                    summary["create ok", default: 0] += answered.count
                    summary["create uncertain", default: 0] += uncertain
                    if !answered.isSubset(of: now) { problems.append("answered CreateKey missing: \(answered.subtracting(now).prefix(3))") }
                    if now.count > answered.count + uncertain {
                        problems.append("\(now.count) keys appeared for \(answered.count) answers and \(uncertain) uncertain calls: a CreateKey ran twice")
                    }
                    if created.contains(where: { $0.error?.isServiceError == true }) {
                        problems.append("a CreateKey got a service answer during the outage")
                    }
                }
                #expect(problems.isEmpty, "\(problems.prefix(20).joined(separator: "\n"))")
                #expect(try Invariants.checkDatabase(at: core.databaseFile).isEmpty)
                reportFigure("outage", "client bulk calls across \(rounds * 2) kills: "
                    + summary.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
                await core.stop()
                core.removeFiles()
            } catch {
                await core.kill()
                throw error
            }
        }

        /// The console (under tmux) watching a core that is killed and restarted on the same port: the outage banner
        /// shows, the last screen stays, and the console resumes by itself.
        @Test(.enabled(if: TmuxSession.available || Scale.requireExternal, "tmux is not installed"))
        func consoleShowsTheOutageAndResumes() async throws {
            guard requireTmux() else { return }   // recorded as an issue when tmux is required
            let binary = try Locations.requireCksBinary()
            let core = try await ServeProcess.start()
            defer { Task { [core] in await core.kill() } }
            let client = core.client()
            let storeId = try await Fixtures.makeStore(client, name: "outage-console-store")
            try await Fixtures.connect(client, storeId)
            _ = try await Fixtures.makeKeys(client, storeId: storeId, count: 30)
            let scratch = try TemporaryDirectory(prefix: "cks-rel-outage")
            defer { scratch.remove() }
            let (shell, environment) = Fixtures.console(binary, against: core, scratch: scratch.url)
            try await withTmux(shell: shell, width: 120, height: 32, environment: environment) { tmux in
                try await tmux.waitFor("the store on screen") { $0.contains("outage-console-store") }
                for outage in 0..<Scale.pick(ci: 2, long: 6) {
                    await core.kill()
                    let during = try await tmux.waitFor("the outage banner (outage \(outage))", timeout: .seconds(40)) {
                        $0.contains("not answering")
                    }
                    #expect(during.contains("outage-console-store"), "the last data stays on screen during the outage")
                    try await core.restart(samePort: true)
                    try await tmux.waitFor("the console to resume (outage \(outage))", timeout: .seconds(60)) {
                        !$0.contains("not answering") && $0.contains("outage-console-store")
                    }
                }
                try await tmux.send(["q"])
                let end = try await tmux.waitFor("the console to exit") { $0.contains("EXIT:") }
                #expect(end.contains("EXIT:0"))
                #expect(try await tmux.paneInfo().alternate == false)
            }
            await core.stop()
            core.removeFiles()
        }
    }
}
