import CKSDomain
import Foundation
import Testing

/// Expected outcome of one cell of table 1.2.
enum Cell: Equatable, CustomStringConvertible {
    case ok
    case error(KMSErrorCode)
    var description: String { switch self { case .ok: "ok"; case .error(let c): c.rawValue } }
}

func outcome(_ body: () throws -> Void) -> Cell {
    do { try body(); return .ok } catch let error as KMSError { return .error(error.code) } catch { return .error(.kmsInternal) }
}

let states: [ConnectionState] = [.disconnected, .connecting, .connected, .disconnecting, .failed]
let invalid = Cell.error(.customKeyStoreInvalidState)

@Suite("Table 1.2: operation validity by ConnectionState")
struct ConnectionRulesTests {
    @Test("ConnectCustomKeyStore", arguments: zip(states, [
        ConnectAction?.some(.start), .some(.noChange), .some(.noChange), nil, nil,
    ]))
    func connect(state: ConnectionState, expected: ConnectAction?) throws {
        if let expected {
            #expect(try ConnectionRules.connect(storeId: "cks-1", state: state) == expected)
        } else {
            #expect(outcome { _ = try ConnectionRules.connect(storeId: "cks-1", state: state) } == invalid)
        }
    }

    @Test("FAILED tells the way out (Disconnect, then Connect)")
    func failedMessage() {
        do {
            _ = try ConnectionRules.connect(storeId: "cks-0123456789abcdef0", state: .failed)
            Issue.record("expected an error")
        } catch {
            #expect(error.code == .customKeyStoreInvalidState)
            #expect(error.message.contains("cks-0123456789abcdef0"))
            #expect(error.message.contains("FAILED"))
            #expect(error.message.contains("DisconnectCustomKeyStore"))
        }
    }

    @Test("DisconnectCustomKeyStore", arguments: zip(states, [invalid, .ok, .ok, invalid, .ok]))
    func disconnect(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.disconnect(storeId: "cks-1", state: state) } == expected)
    }

    @Test("DeleteCustomKeyStore without keys", arguments: zip(states, [Cell.ok, invalid, invalid, invalid, invalid]))
    func deleteEmpty(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.delete(storeId: "cks-1", state: state, keyCount: 0) } == expected)
    }

    @Test("DeleteCustomKeyStore with keys: state is checked first, then the keys",
          arguments: zip(states, [Cell.error(.customKeyStoreHasCMKs), invalid, invalid, invalid, invalid]))
    func deleteWithKeys(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.delete(storeId: "cks-1", state: state, keyCount: 2) } == expected)
    }

    @Test("HasCMKs message counts the keys")
    func hasCMKsMessage() {
        do { try ConnectionRules.delete(storeId: "cks-1", state: .disconnected, keyCount: 1); Issue.record("expected an error") } catch {
            #expect(error.message.contains("1 KMS key."))
        }
    }

    @Test("CreateKey in a custom key store", arguments: zip(states, [invalid, invalid, Cell.ok, invalid, invalid]))
    func createKey(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.createKey(storeId: "cks-1", state: state) } == expected)
    }

    @Test("GenerateRandom with a CloudHSM store", arguments: zip(states, [invalid, invalid, Cell.ok, invalid, invalid]))
    func generateRandomCloudHsm(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.generateRandom(storeId: "cks-1", type: .awsCloudHsm, state: state) } == expected)
    }

    @Test("GenerateRandom with an external key store is unsupported in every state", arguments: states)
    func generateRandomXks(state: ConnectionState) {
        #expect(outcome { try ConnectionRules.generateRandom(storeId: "cks-1", type: .externalKeyStore, state: state) }
                == .error(.unsupportedOperation))
    }

    @Test("DescribeCustomKeyStores is valid everywhere", arguments: states)
    func describe(state: ConnectionState) {
        for type in CustomKeyStoreType.allCases {
            #expect(ConnectionRules.isValid(.describe, type: type, state: state))
        }
    }

    /// Update, per field, per store type, per state (§1.2 notes 2–3, §6.7).
    static let updateCases: [(CustomKeyStoreType, UpdateField, Set<ConnectionState>)] = [
        (.awsCloudHsm, .newCustomKeyStoreName, [.connected, .disconnected]),
        (.awsCloudHsm, .keyStorePassword, [.disconnected]),
        (.awsCloudHsm, .cloudHsmClusterId, [.disconnected]),
        (.externalKeyStore, .newCustomKeyStoreName, [.connected, .disconnected]),
        (.externalKeyStore, .xksProxyAuthenticationCredential, [.connected, .disconnected]),
        (.externalKeyStore, .xksProxyUriPath, [.connected, .disconnected]),
        (.externalKeyStore, .xksProxyUriEndpoint, [.disconnected]),
        (.externalKeyStore, .xksProxyConnectivity, [.disconnected]),
        (.externalKeyStore, .xksProxyVpcEndpointServiceName, [.disconnected]),
        (.externalKeyStore, .xksProxyVpcEndpointServiceOwner, [.disconnected]),
    ]

    @Test("UpdateCustomKeyStore per field", arguments: updateCases)
    func update(type: CustomKeyStoreType, field: UpdateField, allowed: Set<ConnectionState>) {
        for state in states {
            let expected: Cell = allowed.contains(state) ? .ok : invalid
            #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: type, state: state, fields: [field]) } == expected,
                    "\(type) \(field) in \(state)")
        }
    }

    @Test("Update with fields of both kinds needs the strictest state")
    func updateMixed() {
        #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: .awsCloudHsm, state: .connected,
                                                     fields: [.newCustomKeyStoreName, .keyStorePassword]) } == invalid)
        #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: .externalKeyStore, state: .connected,
                                                     fields: [.newCustomKeyStoreName, .xksProxyUriPath, .xksProxyAuthenticationCredential]) } == .ok)
    }

    @Test("Update with a field of the other store type is a ValidationException")
    func updateWrongType() {
        #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: .awsCloudHsm, state: .disconnected,
                                                     fields: [.xksProxyUriPath]) } == .error(.validation))
        #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: .externalKeyStore, state: .disconnected,
                                                     fields: [.keyStorePassword]) } == .error(.validation))
    }

    @Test("An update that sets nothing follows the name rule", arguments: zip(states, [Cell.ok, invalid, .ok, invalid, invalid]))
    func updateNothing(state: ConnectionState, expected: Cell) {
        #expect(outcome { try ConnectionRules.update(storeId: "cks-1", type: .awsCloudHsm, state: state, fields: []) } == expected)
    }
}
