import CKSClient
import CKSDomain
import Foundation
import GRDB
import Testing

extension Reliability {
    /// `cks teardown` (the teardown runner the console uses, scripted) while the core is killed: mid-way through
    /// the bulk ScheduleKeyDeletion, then during the wait, the disconnect and the delete. After every kill the
    /// journal agrees with what the core holds, the plan recomputed from the core names exactly the keys still to
    /// schedule, and running the teardown again finishes it.
    @Suite struct TeardownOutage {
        @Test func journalAndPlanAgreeWithTheCoreThroughKills() async throws {
            let binary = try Locations.requireCksBinary()
            let keyCount = Scale.pick(ci: 150, long: 2000)
            let laterKills = Scale.pick(ci: 2, long: 8)
            var random = SplitMix64(seed: Scale.seed &+ 17)
            // The fastest clock the core allows, a simulated day per second: the 7-day waiting period takes 7 s.
            let core = try await ServeProcess.start(extraArguments: ["--time-scale", "86400"])
            let scratch = try TemporaryDirectory(prefix: "cks-rel-teardown")
            defer { scratch.remove() }
            do {
                let setup = core.client()
                let storeId = try await Fixtures.makeStore(setup, name: "teardown-outage-store")
                try await Fixtures.connect(setup, storeId)
                let keys = Set(try await Fixtures.makeKeys(setup, storeId: storeId, count: keyCount))
                let environment = ["AWS_ACCESS_KEY_ID": core.admin.accessKeyId, "AWS_SECRET_ACCESS_KEY": core.admin.secretAccessKey,
                                   "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                                   "HOME": scratch.url.path, "XDG_STATE_HOME": scratch.url.path,
                                   "XDG_CONFIG_HOME": scratch.url.path]
                let journal = scratch.url.appendingPathComponent("cks/teardowns.jsonl")
                let endpoint = core.endpoint.absoluteString
                func teardown(_ extra: [String]) async throws -> ProcessResult {
                    try await ProcessRunner.run([binary.path] + ["teardown", storeId, "--endpoint", endpoint, "--region", "us-east-1",
                                                  "--window-days", "7", "--acknowledge-flagged", "--output", "json"] + extra,
                                         environment: environment, timeout: .seconds(120))
                }

                var statuses: [Int32] = []
                var kills = 0
                // 1: killed mid-way through the bulk schedule (the teardown gives up: no --wait).
                let first = Task { try await teardown(["--yes"]) }
                // Kill once the schedule is under way: a first key is PendingDeletion, then a random moment more.
                let started = await poll(timeout: .seconds(60), every: .milliseconds(10)) {
                    (try? Self.pendingCount(core.databaseFile)) ?? 0 > 0
                }
                #expect(started, "the teardown began scheduling")
                try await Task.sleep(for: .milliseconds(Int.random(in: 0...80, using: &random)))
                await core.kill()
                kills += 1
                let atKill = (try? Self.pendingCount(core.databaseFile)) ?? -1
                statuses.append(try await first.value.status)
                try await core.restart(samePort: true)
                try await expectAgreement(core: core, storeId: storeId, keys: keys, journal: journal, after: "kill during the schedule")
                try await expectPlanNamesUnscheduledKeys(core: core, storeId: storeId, keys: keys, teardown: teardown)

                // 2…: with --wait, killed during the rest; the core comes back on the same port at once.
                for round in 0..<laterKills {
                    let running = Task { try await teardown(["--yes", "--wait", "--poll-seconds", "0.2"]) }
                    try await Task.sleep(for: .milliseconds(Int.random(in: 200...2500, using: &random)))
                    await core.kill()
                    kills += 1
                    try await core.restart(samePort: true)
                    statuses.append(try await running.value.status)
                    try await expectAgreement(core: core, storeId: storeId, keys: keys, journal: journal, after: "kill \(round + 2)")
                    if statuses.last == 0 { break }
                }
                // Finally to the end, uninterrupted.
                var final = try await teardown(["--yes", "--wait", "--poll-seconds", "0.2"])
                if final.status != 0 { final = try await teardown(["--yes", "--wait", "--poll-seconds", "0.2"]) }
                #expect(final.status == 0, "the teardown finishes after the outages: \(final.status)\n\(final.stdout.suffix(1500))\n\(final.stderr.suffix(800))")
                let stores = try await core.client().allCustomKeyStores().map(\.customKeyStoreId)
                #expect(!stores.contains(storeId), "the store is deleted")
                let lines = try journalLines(journal)
                #expect(lines.contains { $0.operation == .complete && $0.store.id == storeId }, "the journal records the completion")
                try await expectAgreement(core: core, storeId: storeId, keys: keys, journal: journal, after: "the end")
                #expect(try Invariants.checkDatabase(at: core.databaseFile).isEmpty)
                for status in statuses {
                    #expect([0, 1, 5, 10].contains(status), "teardown exit statuses through the outages: \(statuses)")
                }
                #expect(atKill < keyCount, "the first kill came before the schedule finished (\(atKill) of \(keyCount) scheduled)")
                reportFigure("teardown-outage", "\(keyCount) keys, first kill with \(atKill) scheduled, "
                    + "\(kills) kills during schedule/wait/disconnect/delete, "
                    + "teardown exits \(statuses) then 0; journal (\(lines.count) lines) and plan agreed with the core after each")
                await core.stop()
                core.removeFiles()
            } catch {
                await core.kill()
                throw error
            }
        }

        /// The console's teardown (under tmux) with the core killed in the middle of its bulk schedule: the outage
        /// shows over the kept plan, the console resumes when the core is back on the same port, the journal agrees
        /// with the core, and the recomputed plan schedules the rest.
        @Test(.enabled(if: TmuxSession.available || Scale.requireExternal, "tmux is not installed"))
        func consoleTeardownThroughAnOutage() async throws {
            guard requireTmux() else { return }   // recorded as an issue when tmux is required
            let binary = try Locations.requireCksBinary()
            let keyCount = Scale.pick(ci: 200, long: 2000)
            let core = try await ServeProcess.start()
            defer { Task { [core] in await core.kill() } }
            let client = core.client()
            let storeName = "console-teardown-outage"
            let storeId = try await Fixtures.makeStore(client, name: storeName)
            try await Fixtures.connect(client, storeId)
            let keys = Set(try await Fixtures.makeKeys(client, storeId: storeId, count: keyCount))
            let scratch = try TemporaryDirectory(prefix: "cks-rel-console-teardown")
            defer { scratch.remove() }
            let (shell, environment) = Fixtures.console(binary, against: core, scratch: scratch.url,
                                                        environment: ["HOME": scratch.url.path])
            let journal = scratch.url.appendingPathComponent("cks/teardowns.jsonl")
            let scheduleReady = "Enter opens the ScheduleKeyDeletion dialog"
            try await withTmux(shell: shell, width: 120, height: 36, environment: environment) { tmux in
                func press(_ key: String, until what: String, _ predicate: @escaping (String) -> Bool) async throws {
                    for _ in 0..<6 {
                        try await tmux.send([key])
                        if (try? await tmux.waitFor(what, timeout: .seconds(5), predicate)) != nil { return }
                    }
                    throw HarnessError("pressing \(key) never led to \(what):\n\(try await tmux.capture())")
                }
                func confirm(_ marker: String) async throws {
                    try await tmux.send(["Tab"])
                    try await tmux.send(["Enter"])
                    let screen = try await tmux.waitFor("the dialog confirmed") { !$0.contains(marker) || $0.contains("Enter again") }
                    if screen.contains(marker) {
                        try await tmux.send(["Enter"])
                        try await tmux.waitFor("the dialog closed") { !$0.contains(marker) }
                    }
                }
                func scheduleTheRest() async throws {
                    try await tmux.waitFor("the plan ready to schedule", timeout: .seconds(60)) {
                        $0.contains(scheduleReady) || $0.contains("to acknowledge")
                    }
                    if try await tmux.capture().contains("to acknowledge") {
                        try await press("Y", until: "the acknowledge dialog") { $0.contains("Acknowledge ") && $0.contains("Cancel") }
                        try await confirm("Acknowledge")
                        try await tmux.waitFor("every flagged key acknowledged", timeout: .seconds(30)) { $0.contains(scheduleReady) }
                    }
                    try await press("Enter", until: "the schedule dialog") { $0.contains("Schedule deletion of") }
                    try await confirm("Schedule deletion of")
                }

                try await tmux.waitFor("the store on screen", timeout: .seconds(60)) { $0.contains(storeName) }
                try await tmux.send([":"])
                try await tmux.send(["teardown \(storeName)"], literal: true)
                try await tmux.send(["Enter"])
                try await tmux.waitFor("the teardown plan", timeout: .seconds(30)) {
                    $0.contains("Schedule deletion") && $0.contains("Delete store")
                }
                try await scheduleTheRest()
                // Kill the core once the bulk schedule is under way.
                let started = await poll(timeout: .seconds(60), every: .milliseconds(10)) {
                    (try? Self.pendingCount(core.databaseFile)) ?? 0 > 0
                }
                #expect(started, "the console began scheduling")
                await core.kill()
                let atKill = (try? Self.pendingCount(core.databaseFile)) ?? -1
                let during = try await tmux.waitFor("the outage shown", timeout: .seconds(40)) { $0.contains("not answering") }
                #expect(during.contains("Schedule deletion") && during.contains("Delete store"),
                        "the teardown plan stays on screen during the outage:\n\(during)")
                try await core.restart(samePort: true)
                try await tmux.waitFor("the console to resume", timeout: .seconds(60)) {
                    !$0.contains("not answering") && $0.contains("Delete store")
                }
                // The console's bulk call ends (its unsent items go out once the core is back) and the plan, recomputed
                // from the core, schedules what is left (if anything) or waits. The journal line of a bulk call is
                // written when the call ends, so agreement is checked from then on.
                let after = try await tmux.waitFor("the plan after the outage", timeout: .seconds(180)) {
                    $0.contains(scheduleReady) || $0.contains("to acknowledge") || $0.contains("Waiting: ")
                }
                try await expectAgreement(core: core, storeId: storeId, keys: keys, journal: journal, after: "console outage")
                if !after.contains("Waiting: ") {
                    try await scheduleTheRest()
                    try await tmux.waitFor("waiting for the deletion", timeout: .seconds(180)) { $0.contains("Waiting: ") }
                }
                try await expectAgreement(core: core, storeId: storeId, keys: keys, journal: journal, after: "console resumed")
                let states = await core.client().describeKeys(keyIds: Array(keys)).compactMap(\.value?.keyState)
                #expect(states.count == keys.count && states.allSatisfy { $0 == .pendingDeletion },
                        "every key is PendingDeletion in the end")
                for _ in 0..<4 {
                    try await tmux.send(["Escape"])
                    try? await Task.sleep(for: .milliseconds(300))
                    try await tmux.send(["q"])
                    if (try? await tmux.waitFor("exit", timeout: .seconds(3)) { $0.contains("EXIT:") }) != nil { break }
                }
                let end = try await tmux.waitFor("the console to exit") { $0.contains("EXIT:") }
                #expect(end.contains("EXIT:0"))
                reportFigure("teardown-outage", "console: \(keyCount) keys, core killed with \(atKill) scheduled; outage shown over "
                    + "the plan, resumed, journal agreed, the rest scheduled")
            }
            await core.stop()
            core.removeFiles()
        }

        /// PendingDeletion keys in the core's SQLite file, read without disturbing it.
        static func pendingCount(_ database: URL) throws -> Int {
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(2)
            let queue = try DatabaseQueue(path: database.path, configuration: configuration)
            defer { try? queue.close() }
            return try queue.read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM kms_key WHERE state = 'PendingDeletion'") ?? 0
            }
        }

        func journalLines(_ url: URL) throws -> [TeardownJournalEntryLite] {
            let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return text.split(separator: "\n").compactMap { try? decoder.decode(TeardownJournalEntryLite.self, from: Data($0.utf8)) }
        }

        /// The journal against the core: every key the journal says was scheduled is PendingDeletion (or deleted),
        /// every PendingDeletion key appears in a ScheduleKeyDeletion line (as done or as failed with the answer
        /// lost), every key no line names is still Enabled, and a store the journal says was deleted is gone.
        func expectAgreement(core: ServeProcess, storeId: String, keys: Set<String>, journal: URL, after label: String) async throws {
            let lines = try journalLines(journal)
            let raw = ((try? String(contentsOf: journal, encoding: .utf8)) ?? "").split(separator: "\n")
            #expect(lines.count == raw.count, "\(label): every journal line decodes (\(lines.count) of \(raw.count))")
            var scheduled = Set<String>(), mentioned = Set<String>(), cancelled = Set<String>()
            for line in lines where line.store.id == storeId {
                switch line.operation {
                case .scheduleKeyDeletion:
                    mentioned.formUnion(line.targets)
                    scheduled.formUnion(line.succeededTargets)
                case .cancelKeyDeletion: cancelled.formUnion(line.succeededTargets)
                default: break
                }
            }
            let client = core.client()
            let described = await client.describeKeys(keyIds: Array(keys))
            var states: [String: KeyState] = [:]
            for item in described {
                if let metadata = item.value, let state = metadata.keyState { states[item.id] = state }
                else if item.error?.typeName == "NotFoundException" { states[item.id] = nil } // deleted after its window
                else if let error = item.error { throw HarnessError("\(label): DescribeKey \(item.id): \(error)") }
            }
            var problems: [String] = []
            for key in scheduled.subtracting(cancelled) {
                if let state = states[key], state != .pendingDeletion {
                    problems.append("\(key): journal says scheduled, core says \(state.rawValue)")
                }
            }
            for (key, state) in states where state == .pendingDeletion && !mentioned.contains(key) {
                problems.append("\(key): PendingDeletion in the core, absent from the journal")
            }
            for (key, state) in states where !mentioned.contains(key) && state != .enabled {
                problems.append("\(key): no journal line, yet \(state.rawValue)")
            }
            if lines.contains(where: { $0.store.id == storeId && $0.operation == .deleteCustomKeyStore && $0.result == .ok }) {
                let stores = try await client.allCustomKeyStores().map(\.customKeyStoreId)
                if stores.contains(storeId) { problems.append("journal says the store was deleted; the core still has it") }
            }
            let agreed = problems.isEmpty
            #expect(agreed, "\(label): journal and core disagree on \(problems.count) keys:\n\(problems.prefix(10).joined(separator: "\n"))")
            #expect(try Invariants.checkDatabase(at: core.databaseFile).isEmpty, "\(label): invariants")
        }

        /// A dry run after the restart plans from what the core holds: it schedules exactly the keys still Enabled.
        func expectPlanNamesUnscheduledKeys(core: ServeProcess, storeId: String, keys: Set<String>,
                                            teardown: ([String]) async throws -> ProcessResult) async throws {
            let enabled = Set(await core.client().describeKeys(keyIds: Array(keys)).compactMap { item in
                item.value?.keyState == .enabled ? item.id : nil
            })
            let plan = try await teardown(["--dry-run"])
            guard let object = try? JSONSerialization.jsonObject(with: Data(plan.stdout.utf8)) as? [String: Any],
                  let action = object["action"] as? [String: Any] else {
                Issue.record("the dry run prints a JSON plan: \(plan.status)\n\(plan.stdout.prefix(800))\n\(plan.stderr.prefix(800))")
                return
            }
            let kind = action["kind"] as? String ?? ""
            if enabled.isEmpty {
                #expect(kind != "scheduleDeletion", "every key is scheduled; the plan still schedules: \(action)")
            } else {
                #expect(kind == "scheduleDeletion", "keys still Enabled: the plan schedules them (\(kind))")
                #expect(Set(action["keyIds"] as? [String] ?? []) == enabled,
                        "the plan schedules exactly the \(enabled.count) Enabled keys, not \((action["keyIds"] as? [String])?.count ?? 0)")
            }
        }
    }
}

/// The fields of a journal line this suite reads (the console's own type is not imported, so the test reads the
/// file format, which is the contract).
struct TeardownJournalEntryLite: Decodable {
    enum Operation: String, Decodable {
        case start = "StartTeardown", acknowledge = "Acknowledge", scheduleKeyDeletion = "ScheduleKeyDeletion"
        case cancelKeyDeletion = "CancelKeyDeletion", enableKey = "EnableKey", connectCustomKeyStore = "ConnectCustomKeyStore"
        case disconnectCustomKeyStore = "DisconnectCustomKeyStore", deleteCustomKeyStore = "DeleteCustomKeyStore"
        case abort = "AbortTeardown", complete = "CompleteTeardown", disconnectOnly = "DisconnectOnly"
    }
    enum Result: String, Decodable { case ok, partial, failed }
    struct Store: Decodable { var id: String }

    var operation: Operation
    var store: Store
    var targets: [String]
    var result: Result
    var failures: [String: String]?

    var succeededTargets: [String] {
        guard result != .failed else { return [] }
        return targets.filter { failures?[$0] == nil }
    }
}
