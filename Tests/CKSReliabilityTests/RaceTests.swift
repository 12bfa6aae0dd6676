import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Testing

/// The calls of one round, appended from many tasks.
private final class CallLog: @unchecked Sendable {
    private let lock = NSLock()
    private var calls: [RaceCall] = []
    private var created: [String] = []
    func append(_ call: RaceCall) {
        lock.withLock {
            calls.append(call)
            if call.operation == .createKey, case .ok(let id?) = call.outcome { created.append(id) }
        }
    }
    var all: [RaceCall] { lock.withLock { calls } }
    var createdKeys: [String] { lock.withLock { created } }
}

extension Reliability {
    /// Races: many clients on one store at once (Delete vs CreateKey vs Connect/Disconnect vs Schedule/Cancel).
    /// Every answer must fit one serial order of the rules (checked by a linearizability search over a model),
    /// and the invariants hold afterwards.
    @Suite struct Races {
        @Test func concurrentClientsAgreeWithASerialOrder() async throws {
            let rounds = Scale.pick(ci: 30, long: 300)
            let clients = 6
            let callsPerClient = 5
            var random = SplitMix64(seed: Scale.seed &+ 7)
            try await withServe { core in
                let admin = core.client()
                var outcomes: [String: Int] = [:]
                var undecided = 0
                var totalCalls = 0
                for round in 0..<rounds {
                    // Odd rounds start CONNECTED with keys (Schedule/Cancel/CreateKey against Disconnect/Delete);
                    // even rounds start DISCONNECTED and empty (Delete against Connect/CreateKey).
                    let withKeys = round % 2 == 1
                    let storeId = try await Fixtures.makeStore(admin, name: "race-\(round)")
                    var initial = RaceModel()
                    var keyIds: [String] = []
                    if withKeys {
                        try await Fixtures.connect(admin, storeId)
                        initial.state = .connected
                        keyIds = try await Fixtures.makeKeys(admin, storeId: storeId, count: 6)
                        for id in keyIds { initial.keys[id] = .enabled }
                    }
                    let log = CallLog()
                    var plans: [[RaceModel.Operation]] = []
                    for _ in 0..<clients {
                        plans.append((0..<callsPerClient).map { _ in
                            Self.randomOperation(withKeys: withKeys, keys: keyIds, using: &random)
                        })
                    }
                    let endpoint = core.endpoint, credentials = core.admin.credentials
                    let fixedKeys = keyIds
                    await withTaskGroup(of: Void.self) { group in
                        for (index, plan) in plans.enumerated() {
                            group.addTask {
                                let client = KMSClient(endpoint: endpoint, region: "us-east-1", credentials: credentials,
                                                       retryPolicy: .none)
                                for var operation in plan {
                                    // A Schedule/Cancel without a fixed key picks one another client created, if any.
                                    if case .schedule("") = operation { operation = .schedule(log.createdKeys.last ?? fixedKeys.first ?? "none") }
                                    if case .cancel("") = operation { operation = .cancel(log.createdKeys.last ?? fixedKeys.first ?? "none") }
                                    let start = ContinuousClock.now
                                    let outcome = await Self.perform(operation, client: client, storeId: storeId)
                                    log.append(RaceCall(client: index, start: start, end: ContinuousClock.now,
                                                        operation: operation, outcome: outcome))
                                }
                            }
                        }
                    }
                    // What every client can see afterwards, as one more call that follows all the others.
                    let observedStore = try? await Fixtures.state(admin, storeId)
                    var observedKeys: [String: KeyState?] = [:]
                    for id in keyIds + log.createdKeys {
                        do { observedKeys[id] = try await admin.describeKey(keyId: id).keyState } catch { observedKeys[id] = .none }
                    }
                    let start = ContinuousClock.now
                    var calls = log.all
                    calls.append(RaceCall(client: -1, start: start, end: start,
                                          operation: .observe(store: observedStore, keys: observedKeys), outcome: .ok(nil)))
                    for call in calls {
                        let name = String("\(call.operation)".prefix { $0 != "(" }) + " → " + String("\(call.outcome)".prefix { $0 != "(" })
                        outcomes[name, default: 0] += 1
                    }
                    totalCalls += calls.count - 1

                    switch Linearizability.check(calls, from: initial) {
                    case true?: break
                    case nil: undecided += 1
                    case false?:
                        let story = calls.sorted { $0.start < $1.start }.map { "  \($0)" }.joined(separator: "\n")
                        Issue.record("round \(round): no serial order explains the answers:\n\(story)")
                    }
                    let problems = try Invariants.checkDatabase(at: core.databaseFile)
                    #expect(problems.isEmpty, "round \(round): \(problems)")
                    if observedStore != nil { try await Fixtures.tearDown(admin, storeId: storeId) }
                }
                let (apiProblems, _) = try await Invariants.checkAPI(admin)
                #expect(apiProblems.isEmpty, "\(apiProblems.prefix(10))")
                #expect(undecided == 0, "\(undecided) rounds too large to decide")
                reportFigure("races", "\(rounds) rounds × \(clients) clients, \(totalCalls) racing calls, all linearizable; "
                    + "outcomes \(outcomes.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))")
            }
        }

        static func randomOperation(withKeys: Bool, keys: [String], using random: inout SplitMix64) -> RaceModel.Operation {
            let roll = Int.random(in: 0..<100, using: &random)
            if withKeys {
                switch roll {
                case 0..<25: return .schedule(Bool.random(using: &random) ? keys.randomElement(using: &random)! : "")
                case 25..<45: return .cancel(Bool.random(using: &random) ? keys.randomElement(using: &random)! : "")
                case 45..<60: return .createKey
                case 60..<70: return .disconnect
                case 70..<78: return .connect
                case 78..<90: return .delete
                case 90..<97: return .advance(3600)
                default: return .advance(31 * 86400)
                }
            }
            switch roll {
            case 0..<25: return .delete
            case 25..<45: return .connect
            case 45..<65: return .createKey
            case 65..<80: return .disconnect
            default: return .advance(3600)
            }
        }

        static func perform(_ operation: RaceModel.Operation, client: KMSClient, storeId: String) async -> RaceModel.Outcome {
            do {
                switch operation {
                case .connect: try await client.connectCustomKeyStore(id: storeId)
                case .disconnect: try await client.disconnectCustomKeyStore(id: storeId)
                case .delete: try await client.deleteCustomKeyStore(id: storeId)
                case .createKey:
                    let key = try await client.createKey(CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
                    return .ok(key.keyMetadata?.keyId)
                case .schedule(let id): _ = try await client.scheduleKeyDeletion(keyId: id, pendingWindowInDays: 7)
                case .cancel(let id): try await client.cancelKeyDeletion(keyId: id)
                case .advance(let seconds): try await client.advanceClock(seconds: seconds)
                case .observe: break
                }
                return .ok(nil)
            } catch let error as KMSClientError {
                return .error(error.typeName)
            } catch {
                return .error("\(error)")
            }
        }
    }
}

extension Reliability.Races {
    /// The checker itself: it must reject answers no serial order explains, and accept overlapping ones that one does.
    @Test func checkerRejectsImpossibleHistories() {
        let t0 = ContinuousClock.now
        func at(_ ms: Int) -> ContinuousClock.Instant { t0 + .milliseconds(ms) }
        var empty = RaceModel()
        empty.state = .disconnected
        // Delete answered before CreateKey was sent, yet CreateKey succeeded: impossible.
        let impossible = [
            RaceCall(client: 0, start: at(0), end: at(10), operation: .delete, outcome: .ok(nil)),
            RaceCall(client: 1, start: at(20), end: at(30), operation: .connect, outcome: .ok(nil)),
        ]
        #expect(Linearizability.check(impossible, from: empty) == false)
        // The same calls overlapping: Connect first, then Delete refused... but Delete said ok: still impossible.
        let overlapping = [
            RaceCall(client: 0, start: at(0), end: at(30), operation: .delete, outcome: .ok(nil)),
            RaceCall(client: 1, start: at(5), end: at(25), operation: .connect, outcome: .ok(nil)),
        ]
        #expect(Linearizability.check(overlapping, from: empty) == false)
        // Overlapping, Connect ok and Delete refused as invalid state: Connect took effect first.
        let explained = [
            RaceCall(client: 0, start: at(0), end: at(30), operation: .delete, outcome: .error("CustomKeyStoreInvalidStateException")),
            RaceCall(client: 1, start: at(5), end: at(25), operation: .connect, outcome: .ok(nil)),
        ]
        #expect(Linearizability.check(explained, from: empty) == true)
        // A key scheduled twice with success: impossible in any order.
        var withKey = RaceModel()
        withKey.state = .connected
        withKey.keys["k"] = .enabled
        let twice = [
            RaceCall(client: 0, start: at(0), end: at(30), operation: .schedule("k"), outcome: .ok(nil)),
            RaceCall(client: 1, start: at(1), end: at(29), operation: .schedule("k"), outcome: .ok(nil)),
        ]
        #expect(Linearizability.check(twice, from: withKey) == false)
    }
}
