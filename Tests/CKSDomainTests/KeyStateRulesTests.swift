import CKSDomain
import Foundation
import Testing

let arn = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
let keyStates: [KeyState] = [.enabled, .disabled, .pendingDeletion, .pendingImport, .unavailable]

/// A cell of table 2.3: nil = allowed, else the error code and exact message.
typealias KeyCell = (KMSErrorCode, String)?

func keyOutcome(_ op: KeyOperation, _ state: KeyState) -> KMSError? {
    do { try KeyStateRules.check(op, state: state, arn: arn); return nil } catch { return error }
}

@Suite("Table 2.3: key operations by key state")
struct KeyStateRulesTests {
    static let pendingDeletion: KeyCell = (.kmsInvalidState, "\(arn) is pending deletion.")
    static let notPending: KeyCell = (.kmsInvalidState, "\(arn) is not pending deletion.")
    static let pendingImport: KeyCell = (.kmsInvalidState, "\(arn) is pending import.")

    /// Columns: Enabled, Disabled, PendingDeletion, PendingImport, Unavailable.
    static let table: [(KeyOperation, [KeyCell])] = [
        (.scheduleKeyDeletion, [nil, nil, pendingDeletion, nil, nil]),
        (.cancelKeyDeletion, [notPending, notPending, nil, notPending, notPending]),
        (.describeKey, [nil, nil, nil, nil, nil]),
        (.getKeyLastUsage, [nil, nil, nil, nil, nil]),
        (.listAliases, [nil, nil, nil, nil, nil]),
        (.deleteAlias, [nil, nil, nil, nil, nil]),
        (.enableKey, [nil, nil, pendingDeletion, pendingImport, nil]),
        (.disableKey, [nil, nil, pendingDeletion, pendingImport, nil]),
        (.createAlias, [nil, nil, pendingDeletion, nil, nil]),
        (.encrypt, [nil, (.disabled, "\(arn) is disabled."), pendingDeletion, pendingImport, (.kmsInvalidState, "\(arn) is unavailable.")]),
        (.decrypt, [nil, (.disabled, "\(arn) is disabled."), pendingDeletion, pendingImport, (.kmsInvalidState, "\(arn) is unavailable.")]),
        (.generateDataKey, [nil, (.disabled, "\(arn) is disabled."), pendingDeletion, pendingImport, (.kmsInvalidState, "\(arn) is unavailable.")]),
        (.generateDataKeyWithoutPlaintext, [nil, (.disabled, "\(arn) is disabled."), pendingDeletion, pendingImport, (.kmsInvalidState, "\(arn) is unavailable.")]),
        (.reEncrypt, [nil, (.disabled, "\(arn) is disabled."), pendingDeletion, pendingImport, (.kmsInvalidState, "\(arn) is unavailable.")]),
        (.createGrant, [nil, nil, pendingDeletion, nil, nil]),
        (.tagResource, [nil, nil, pendingDeletion, nil, nil]),
        (.untagResource, [nil, nil, pendingDeletion, nil, nil]),
        (.updateKeyDescription, [nil, nil, pendingDeletion, nil, nil]),
        (.updateAlias, [nil, nil, pendingDeletion, nil, nil]),
    ]

    @Test("every cell", arguments: table)
    func cell(op: KeyOperation, row: [KeyCell]) {
        for (state, expected) in zip(keyStates, row) {
            let got = keyOutcome(op, state)
            #expect(got?.code == expected?.0, "\(op) on \(state)")
            #expect(got?.message == expected?.1, "\(op) on \(state)")
        }
    }

    @Test("the table covers every operation")
    func coverage() {
        #expect(Set(Self.table.map(\.0)) == Set(KeyOperation.allCases))
    }

    @Test("state changes of the valid operations")
    func changes() {
        #expect(KeyStateRules.change(for: .scheduleKeyDeletion, stored: .enabled) == .store(.pendingDeletion))
        #expect(KeyStateRules.change(for: .scheduleKeyDeletion, stored: .disabled) == .store(.pendingDeletion))
        #expect(KeyStateRules.change(for: .cancelKeyDeletion, stored: .pendingDeletion) == .store(.disabled))
        #expect(KeyStateRules.change(for: .cancelKeyDeletion, stored: .pendingDeletion, hasMaterial: false) == .store(.pendingImport))
        #expect(KeyStateRules.change(for: .enableKey, stored: .disabled) == .store(.enabled))
        #expect(KeyStateRules.change(for: .enableKey, stored: .enabled) == .none)
        #expect(KeyStateRules.change(for: .disableKey, stored: .enabled) == .store(.disabled))
        #expect(KeyStateRules.change(for: .encrypt, stored: .enabled) == .none)
    }
}

@Suite("Effective key state (§2.2)")
struct EffectiveStateTests {
    @Test("keys outside custom key stores show their stored state", arguments: [KeyState.enabled, .disabled, .pendingDeletion, .pendingImport])
    func ordinary(stored: KeyState) {
        #expect(KeyStates.effective(stored: stored, storeState: nil) == stored)
    }

    @Test("Unavailable while the store is not CONNECTED; PendingDeletion wins", arguments: states)
    func inStore(storeState: ConnectionState) {
        let connected = storeState == .connected
        #expect(KeyStates.effective(stored: .enabled, storeState: storeState) == (connected ? .enabled : .unavailable))
        #expect(KeyStates.effective(stored: .disabled, storeState: storeState) == (connected ? .disabled : .unavailable))
        #expect(KeyStates.effective(stored: .pendingDeletion, storeState: storeState) == .pendingDeletion)
    }

    @Test("the previous state comes back on reconnect; Enable/Disable while Unavailable take effect then")
    func reconnect() throws {
        var key = KMSKey(id: KeyIdentifiers.newKeyId(), scope: .init(account: "1", region: "r"), creationDate: Date(),
                         origin: .awsCloudHsm, customKeyStoreId: "cks-1", storedState: .disabled)
        #expect(key.effectiveState(storeState: .disconnected) == .unavailable)
        // DisableKey/EnableKey are accepted on an Unavailable key…
        try KeyStateRules.check(.enableKey, state: key.effectiveState(storeState: .disconnected), arn: key.arn)
        if case .store(let s) = KeyStateRules.change(for: .enableKey, stored: key.storedState) { key.storedState = s }
        // …but nothing visible changes until the store is connected again.
        #expect(key.effectiveState(storeState: .disconnected) == .unavailable)
        #expect(key.effectiveState(storeState: .connected) == .enabled)
    }

    @Test("CancelKeyDeletion while disconnected: Unavailable, then Disabled after reconnect")
    func cancelWhileDisconnected() throws {
        var key = KMSKey(id: KeyIdentifiers.newKeyId(), scope: .init(account: "1", region: "r"), creationDate: Date(),
                         origin: .awsCloudHsm, customKeyStoreId: "cks-1", storedState: .pendingDeletion,
                         deletionDate: Date().addingTimeInterval(86_400), pendingWindowInDays: 7, material: Data(count: 32))
        try KeyStateRules.check(.cancelKeyDeletion, state: key.effectiveState(storeState: .disconnected), arn: key.arn)
        if case .store(let s) = KeyStateRules.change(for: .cancelKeyDeletion, stored: key.storedState) { key.storedState = s }
        #expect(key.effectiveState(storeState: .disconnected) == .unavailable)
        #expect(key.effectiveState(storeState: .connected) == .disabled)
    }

    @Test("PendingWindowInDays is 7...30, default 30", arguments: [
        (Int?.none, Int?.some(30)), (7, 7), (30, 30), (6, nil), (31, nil), (1, nil), (365, nil), (0, nil), (-1, nil),
    ])
    func window(requested: Int?, expected: Int?) {
        do {
            let w = try KeyStates.pendingWindow(requested)
            #expect(w == expected)
        } catch {
            #expect(expected == nil)
            #expect(error.code == .validation)
            #expect(error.message == "PendingWindowInDays must be between 7 and 30")
        }
    }

    @Test("a key is deleted once its deletion date has passed")
    func deletedAt() {
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        let key = KMSKey(id: "k", scope: .init(account: "1", region: "r"), creationDate: t0, origin: .awsKMS,
                         storedState: .pendingDeletion, deletionDate: KeyStates.deletionDate(from: t0, windowInDays: 7))
        #expect(!key.isDeleted(at: t0.addingTimeInterval(7 * 86_400 - 1)))
        #expect(key.isDeleted(at: t0.addingTimeInterval(7 * 86_400)))
    }
}
