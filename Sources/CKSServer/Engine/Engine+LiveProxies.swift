import CKSDomain
import CKSPersistence
import CKSWire
import CKSXksClient
import Foundation
import Synchronization

/// The real XKS proxies the core calls: the client, and the periodic health check of CONNECTED stores.
/// A store with public endpoint connectivity is served by its real proxy when the core has a client (`cks serve`
/// always does) and no simulated proxy is registered at its endpoint and path (the admin API's proxies keep
/// their simulated behaviour).
public final class LiveProxies: Sendable {
    /// Simulated seconds between two KmsHealthCheck calls to a CONNECTED store's proxy ("every few minutes").
    public static let healthCheckInterval: TimeInterval = 5 * 60

    /// What the last periodic health check of a store found.
    public struct HealthRecord: Sendable, Hashable {
        /// Simulated time of the check.
        public var checkedAt: Date
        /// nil when the proxy answered healthy.
        public var failure: XksCallFailure?
    }

    let client: XksClient?
    private let records = Mutex<[String: HealthRecord]>([:])
    /// Whether a store served by a real proxy may exist: set when one is found at open or created or updated,
    /// never cleared. Until then cryptographic operations skip the read that looks for a live key, so cores
    /// without real proxies pay nothing for them.
    private let mayHaveLiveStores = Atomic<Bool>(false)

    var liveStoresPossible: Bool { mayHaveLiveStores.load(ordering: .acquiring) }
    func noteLiveStore() { mayHaveLiveStores.store(true, ordering: .releasing) }
    private let loop = Mutex<Task<Void, Never>?>(nil)

    init(options: XksClientOptions?) throws(XksClientSetupError) {
        client = try options.map { (o) throws(XksClientSetupError) in try XksClient(options: o) }
    }

    /// The last periodic health check of each store checked so far, by store id.
    public var healthRecords: [String: HealthRecord] { records.withLock { $0 } }

    func record(_ storeId: String, _ record: HealthRecord?) { records.withLock { $0[storeId] = record } }

    func start(_ body: @escaping @Sendable () async -> Void) {
        guard client != nil else { return }
        loop.withLock { $0 = Task(operation: body) }
    }

    func stop() {
        loop.withLock { $0?.cancel(); $0 = nil }
        client?.shutdown()
    }
}

/// The KMS side of external key stores on real proxies (spec "KMS considerations"): health on Create, Update and
/// Connect, metadata on CreateKey, the external key as the outer layer of Encrypt/Decrypt/GenerateDataKey.
extension KMSEngine {
    /// The caller's principal, sent to proxies as `awsPrincipalArn`.
    @TaskLocal static var callerArn: String?

    /// At open: whether the database already holds a store served by a real proxy.
    func findLiveStores() {
        guard liveProxies.client != nil else { return }
        let found = try? database.writeNow { w in try w.publicEndpointStores().contains { try self.isLive($0.xks, w) } }
        if found == true { liveProxies.noteLiveStore() }
    }

    /// Whether `xks` is served by a real proxy (see `LiveProxies`).
    func isLive(_ xks: XksProxySettings?, _ r: DataReader) throws -> Bool {
        guard liveProxies.client != nil, let xks, xks.connectivity == .publicEndpoint else { return false }
        return try r.proxy(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath) == nil
    }

    static func endpoint(_ xks: XksProxySettings, _ scope: ResourceScope) -> XksProxyEndpoint {
        XksProxyEndpoint(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath,
                         credentials: AWSCredentials(accessKeyId: xks.accessKeyId, secretAccessKey: xks.rawSecretAccessKey),
                         region: scope.region)
    }

    static func newRequestId() -> String { UUID().uuidString.lowercased() }

    /// GetHealthStatus for `operation`; nil when healthy.
    func healthFailure(_ xks: XksProxySettings, _ scope: ResourceScope, _ operation: XksCallingOperation) async -> XksCallFailure? {
        guard let client = liveProxies.client else { return .unreachable("the core has no XKS client") }
        do {
            _ = try await client.health(Self.endpoint(xks, scope), kmsOperation: operation.rawValue, requestId: Self.newRequestId(),
                                        principalArn: Self.callerArn)
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Create, Update, Connect

    /// CreateCustomKeyStore on a real proxy: the checks that come first (quota, name, uniqueness) then GetHealthStatus.
    /// True when the proxy was checked live (the write then skips the simulated check).
    func checkLiveProxyForCreate(_ name: String, _ xks: XksProxySettings?, _ scope: ResourceScope) async throws -> Bool {
        guard let xks, liveProxies.client != nil else { return false }
        let quota = options.storeQuota
        let live = try await read { db, _ -> Bool in
            if try db.storeCount(in: scope) >= quota { throw StoreRules.quotaExceeded(quota) }
            if try db.store(named: name, in: scope) != nil { throw StoreRules.nameInUse(name) }
            try StoreRules.checkXksUniqueness(xks, against: try db.allStores(in: scope))
            return try self.isLive(xks, db)
        }
        guard live else { return false }
        liveProxies.noteLiveStore()
        if let failure = await healthFailure(xks, scope, .createCustomKeyStore) {
            throw XksFailureMapping.error(failure, during: .createCustomKeyStore)
        }
        return true
    }

    /// UpdateCustomKeyStore changing the proxy settings of a store served by a real proxy: GetHealthStatus with
    /// the new settings, after the checks that come first. True when checked live.
    func checkLiveProxyForUpdate(_ r: UpdateCustomKeyStoreRequest, fields: Set<UpdateField>, _ scope: ResourceScope) async throws -> Bool {
        guard liveProxies.client != nil, !fields.isDisjoint(with: Self.xksUpdateFields) else { return false }
        let settings = try await read { db, now -> XksProxySettings? in
            let store = try Self.existingStore(r.customKeyStoreId, scope, db, now)
            try ConnectionRules.update(storeId: store.id, type: store.type, state: store.connection.state, fields: fields)
            guard let old = store.xks else { return nil }
            let xks = try Self.mergedXks(old, r)
            try StoreRules.checkXksUniqueness(xks, against: try db.allStores(in: scope).filter { $0.id != store.id })
            return try self.isLive(xks, db) ? xks : nil
        }
        guard let settings else { return false }
        liveProxies.noteLiveStore()
        if let failure = await healthFailure(settings, scope, .updateCustomKeyStore) {
            throw XksFailureMapping.error(failure, during: .updateCustomKeyStore)
        }
        return true
    }

    static let xksUpdateFields: Set<UpdateField> = [.xksProxyUriEndpoint, .xksProxyUriPath, .xksProxyVpcEndpointServiceName,
                                                    .xksProxyVpcEndpointServiceOwner, .xksProxyAuthenticationCredential,
                                                    .xksProxyConnectivity]

    /// The store's proxy settings once an UpdateCustomKeyStore request is applied, checked for consistency.
    static func mergedXks(_ old: XksProxySettings, _ r: UpdateCustomKeyStoreRequest) throws -> XksProxySettings {
        var xks = old
        if let c = r.xksProxyConnectivity { xks.connectivity = c }
        if let e = r.xksProxyUriEndpoint { xks.uriEndpoint = e }
        if let p = r.xksProxyUriPath { xks.uriPath = p }
        if let n = r.xksProxyVpcEndpointServiceName { xks.vpcEndpointServiceName = n }
        if let o = r.xksProxyVpcEndpointServiceOwner { xks.vpcEndpointServiceOwner = o }
        if let cred = r.xksProxyAuthenticationCredential {
            xks.accessKeyId = cred.accessKeyId
            xks.rawSecretAccessKey = cred.rawSecretAccessKey
        }
        switch xks.connectivity {
        case .publicEndpoint:
            if r.xksProxyVpcEndpointServiceName != nil || r.xksProxyVpcEndpointServiceOwner != nil {
                throw KMSError(.validation, "XksProxyVpcEndpointServiceName and XksProxyVpcEndpointServiceOwner are valid only with VPC_ENDPOINT_SERVICE connectivity.")
            }
            xks.vpcEndpointServiceName = nil
            xks.vpcEndpointServiceOwner = nil
        case .vpcEndpointService:
            if xks.vpcEndpointServiceName == nil {
                throw KMSError(.validation, "XksProxyVpcEndpointServiceName is required for an external key store with VPC_ENDPOINT_SERVICE connectivity.")
            }
        }
        return xks
    }

    /// ConnectCustomKeyStore of a store served by a real proxy: GetHealthStatus now decides how the attempt ends.
    /// nil when the store is not served live or the connect would not start; `.some(nil)` when healthy.
    func liveConnectOutcome(_ storeId: String, _ scope: ResourceScope) async throws -> ConnectionErrorCode?? {
        guard liveProxies.client != nil else { return nil }
        let settings = try await read { db, now -> XksProxySettings? in
            let store = try Self.existingStore(storeId, scope, db, now)
            guard try ConnectionRules.connect(storeId: store.id, state: store.connection.state) == .start,
                  store.connectionFault == nil, try self.isLive(store.xks, db) else { return nil }
            return store.xks
        }
        guard let settings else { return nil }
        let failure = await healthFailure(settings, scope, .connectCustomKeyStore)
        return .some(failure.map(XksFailureMapping.connectionErrorCode))
    }

    // MARK: - CreateKey

    /// CreateKey in a store served by a real proxy: after the store checks, GetKeyMetadata must show an enabled
    /// AES_256 key that encrypts and decrypts. True when checked live (the write then checks only that no other
    /// KMS key of the store uses the external key).
    func checkLiveExternalKey(_ r: CreateKeyRequest, _ scope: ResourceScope) async throws -> Bool {
        guard let client = liveProxies.client, r.origin == .externalKeyStore, let storeId = r.customKeyStoreId,
              let xksKeyId = r.xksKeyId else { return false }
        let settings = try await read { db, now -> XksProxySettings? in
            let store = try Self.existingStore(storeId, scope, db, now)
            guard store.type == .externalKeyStore, try self.isLive(store.xks, db) else { return nil }
            try ConnectionRules.createKey(storeId: store.id, state: store.connection.state)
            if let usedBy = try db.keyUsing(xksKeyId: xksKeyId, storeId: store.id) {
                throw KMSError(.xksKeyAlreadyInUse, "The external key \(xksKeyId) is already associated with KMS key \(usedBy) in custom key store \(store.id).")
            }
            return store.xks
        }
        guard let settings else { return false }
        guard XKSPath.isValidKeyId(xksKeyId) else {
            throw KMSError(.validation, "XksKeyId must be 1-128 characters of A-Z, a-z, 0-9, '-', '.' and '_'.")
        }
        let metadata: XKSKeyMetadata
        do {
            metadata = try await client.keyMetadata(Self.endpoint(settings, scope), externalKeyId: xksKeyId, metadata: XKSRequestMetadata(
                awsPrincipalArn: Self.callerArn ?? "arn:aws:iam::\(scope.account):root", kmsOperation: "CreateKey",
                kmsRequestId: Self.newRequestId()))
        } catch {
            throw XksFailureMapping.error(error, during: .createKey)
        }
        var problems: [String] = []
        if metadata.keySpec != "AES_256" { problems.append("its key spec is \(metadata.keySpec), not AES_256") }
        if metadata.keyStatus != "ENABLED" { problems.append("it is \(metadata.keyStatus), not ENABLED") }
        let missing = ["ENCRYPT", "DECRYPT"].filter { !metadata.keyUsage.contains($0) }
        if !missing.isEmpty { problems.append("its key usage lacks \(missing.joined(separator: " and "))") }
        if !problems.isEmpty {
            throw KMSError(.xksKeyInvalidConfiguration, "The external key \(xksKeyId) cannot back a KMS key: \(problems.joined(separator: "; ")). "
                + "An external key must be an enabled AES_256 key that performs encryption and decryption.")
        }
        return true
    }

    // MARK: - Cryptographic operations

    /// A key of a store served by a real proxy, checked for `operation` (table 2.3) at read time.
    struct LiveKey: Sendable {
        var key: KMSKey
        var externalKeyId: String
        var endpoint: XksProxyEndpoint
    }

    /// A cryptographic operation on a key of a store served by a real proxy; nil when the key is not one (the
    /// caller then takes the simulated path, `useKey`). The key is resolved and checked (grant, key state) in a
    /// read, `outside` makes the proxy call with no transaction open, then `useKey` checks again and records the
    /// use (last usage, the use record's event) with the answer.
    func useLiveKey<T: Sendable>(_ keyId: String, _ caller: Caller, operation: KeyOperation, grantOperation: String? = nil,
                                 context: [String: String]?, dryRun: Bool,
                                 _ outside: @Sendable (LiveKey) async throws -> T) async throws -> T? {
        guard liveProxies.client != nil, liveProxies.liveStoresPossible else { return nil }
        let scope = caller.scope
        let live = try await read { db, now -> LiveKey? in
            let key = try Self.resolveKey(keyId, allowAlias: true, scope, db, now)
            guard key.origin == .externalKeyStore, let storeId = key.customKeyStoreId, let row = try db.store(id: storeId),
                  let xks = row.xks, try self.isLive(xks, db) else { return nil }
            _ = try Self.authorizingGrant(caller, key: key, operation: grantOperation ?? operation.rawValue, context: context, db)
            let (state, _) = Self.effectiveState(of: key, storeRow: row, now)
            try KeyStateRules.check(operation, state: state, arn: key.arn)
            return LiveKey(key: key, externalKeyId: key.xksKeyId ?? "", endpoint: Self.endpoint(xks, row.scope))
        }
        guard let live else { return nil }
        if dryRun {
            try await useKey(keyId, caller, operation: operation, grantOperation: grantOperation, context: context, dryRun: true,
                             liveChecked: true) { _ in () }
        }
        let answer = try await outside(live)
        try await useKey(keyId, caller, operation: operation, grantOperation: grantOperation, context: context, dryRun: false,
                         liveChecked: true) { _ in () }
        return answer
    }

    /// In `useKey`: a key whose store is served by a real proxy must have come through `useLiveKey`.
    func checkLiveBackend(_ store: CustomKeyStore, liveChecked: Bool, _ r: DataReader) throws -> Bool {
        guard try isLive(store.xks, r) else { return false }
        if !liveChecked {
            liveProxies.noteLiveStore()
            throw KMSError(.kmsInternal, "The custom key store of this key is served by its external key store proxy; retry the request.")
        }
        return true
    }

    /// Seals `plaintext` with the key's own material (inner layer), then has the proxy encrypt that under the
    /// external key (outer layer), the AAD binding the key id and encryption context.
    func sealLive(_ live: LiveKey, _ plaintext: Data, context: [String: String], operation: XksCallingOperation,
                  requestId: String?) async throws -> Data {
        guard let client = liveProxies.client else { throw XksFailureMapping.error(.unreachable("no client"), during: operation) }
        let inner = try CiphertextBlob.seal(plaintext, keyId: live.key.id, material: live.key.material ?? Data(), context: context)
        let aad = CiphertextBlob.aad(live.key.id, context)
        do {
            let outer = try await client.encrypt(live.endpoint, externalKeyId: live.externalKeyId, request: XKSEncryptRequest(
                requestMetadata: metadata(live, operation, requestId), plaintext: inner, additionalAuthenticatedData: aad))
            return ExternalCiphertextBlob.encode(keyId: live.key.id, outer)
        } catch {
            throw XksFailureMapping.error(error, during: operation)
        }
    }

    /// The reverse of `sealLive`.
    func openLive(_ live: LiveKey, _ blob: Data, context: [String: String], operation: XksCallingOperation = .decrypt,
                  requestId: String?) async throws -> Data {
        guard let client = liveProxies.client else { throw XksFailureMapping.error(.unreachable("no client"), during: operation) }
        let parts = try ExternalCiphertextBlob.decode(blob)
        let inner: Data
        do {
            inner = try await client.decrypt(live.endpoint, externalKeyId: live.externalKeyId, request: XKSDecryptRequest(
                requestMetadata: metadata(live, operation, requestId), ciphertext: parts.ciphertext,
                ciphertextMetadata: parts.ciphertextMetadata, additionalAuthenticatedData: CiphertextBlob.aad(live.key.id, context),
                initializationVector: parts.initializationVector, authenticationTag: parts.authenticationTag))
        } catch {
            throw XksFailureMapping.error(error, during: operation)
        }
        do {
            return try CiphertextBlob.open(inner, material: live.key.material ?? Data(), context: context)
        } catch {
            // The proxy's plaintext is not what this key sealed: the spec's "proxy returns an invalid ciphertext".
            throw KMSError(.kmsInvalidState, "The ciphertext that the external key store proxy submitted for decryption, or the "
                + "encryption context, is corrupted, missing, or otherwise invalid.", cause: "inner layer did not open")
        }
    }

    private func metadata(_ live: LiveKey, _ operation: XksCallingOperation, _ requestId: String?) -> XKSRequestMetadata {
        XKSRequestMetadata(awsPrincipalArn: Self.callerArn ?? "arn:aws:iam::\(live.key.scope.account):root", kmsKeyArn: live.key.arn,
                           kmsOperation: operation.rawValue, kmsRequestId: requestId ?? Self.newRequestId())
    }

    // MARK: - Periodic health check

    /// Starts the periodic KmsHealthCheck: every second of wall time, each CONNECTED store served by a real proxy
    /// whose last check is `healthCheckInterval` simulated seconds old (or that was never checked) is checked
    /// again, so the checks follow the simulated clock (and `AdvanceClock`). A change of outcome is logged.
    func startHealthChecks(log: @escaping @Sendable (String) -> Void) {
        guard liveProxies.client != nil else { return }
        liveProxies.start { [weak self] in
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                guard let self, !Task.isCancelled else { return }
                await self.runDueHealthChecks(log: log)
            }
        }
    }

    /// One round of the periodic check (also called by tests).
    func runDueHealthChecks(log: @Sendable (String) -> Void) async {
        guard let stores = try? await read({ db, now -> [(CustomKeyStore, Bool)] in
            try db.publicEndpointStores().map { ($0.resolved(at: now), try self.isLive($0.xks, db)) }
        }) else { return }
        if stores.contains(where: \.1) { liveProxies.noteLiveStore() }
        let now = self.now()
        let records = liveProxies.healthRecords
        for (store, live) in stores {
            guard live, store.connection.state == .connected, let xks = store.xks else {
                if records[store.id] != nil { liveProxies.record(store.id, nil) }
                continue
            }
            if let last = records[store.id], now.timeIntervalSince(last.checkedAt) < LiveProxies.healthCheckInterval,
               now >= last.checkedAt { continue }
            let failure = await healthFailure(xks, store.scope, .kmsHealthCheck)
            let previous = records[store.id]
            liveProxies.record(store.id, LiveProxies.HealthRecord(checkedAt: now, failure: failure))
            if let failure, previous?.failure != failure {
                log("KmsHealthCheck of custom key store \(store.id) (\(xks.uriEndpoint)\(xks.uriPath)) failed: \(failure). "
                    + "Cryptographic operations with its keys fail with KMSInvalidStateException until the proxy answers.")
            } else if failure == nil, previous?.failure != nil {
                log("KmsHealthCheck of custom key store \(store.id) (\(xks.uriEndpoint)\(xks.uriPath)) succeeds again.")
            }
        }
    }
}

/// The ciphertext of a key in a store served by a real proxy: `CKX1`, the 36-character key id, then the proxy's
/// Encrypt answer: IV length (1 byte), IV, 16-byte tag, ciphertextMetadata length (1 byte), ciphertextMetadata,
/// ciphertext (the inner `CKS1` blob under the external key).
enum ExternalCiphertextBlob {
    static let magic = Data("CKX1".utf8)

    static func encode(keyId: String, _ answer: XKSEncryptResponse) -> Data {
        var out = magic + Data(keyId.utf8)
        out.append(UInt8(answer.initializationVector.count))
        out.append(answer.initializationVector)
        out.append(answer.authenticationTag)
        let metadata = answer.ciphertextMetadata ?? Data()
        out.append(UInt8(metadata.count))
        out.append(metadata)
        out.append(answer.ciphertext)
        return out
    }

    struct Parts {
        var initializationVector: Data
        var authenticationTag: Data
        var ciphertextMetadata: Data?
        var ciphertext: Data
    }

    static func decode(_ blob: Data) throws -> Parts {
        let bytes = [UInt8](blob)
        var at = 40
        guard bytes.count > at, Data(bytes[0..<4]) == magic else { throw CiphertextBlob.invalid() }
        let ivLength = Int(bytes[at]); at += 1
        guard ivLength == 12 || ivLength == 16, bytes.count >= at + ivLength + 16 + 1 else { throw CiphertextBlob.invalid() }
        let iv = Data(bytes[at..<(at + ivLength)]); at += ivLength
        let tag = Data(bytes[at..<(at + 16)]); at += 16
        let metadataLength = Int(bytes[at]); at += 1
        guard metadataLength <= XKSLimits.maxCiphertextMetadataBytes, bytes.count > at + metadataLength else {
            throw CiphertextBlob.invalid()
        }
        let metadata = metadataLength == 0 ? nil : Data(bytes[at..<(at + metadataLength)]); at += metadataLength
        return Parts(initializationVector: iv, authenticationTag: tag, ciphertextMetadata: metadata, ciphertext: Data(bytes[at...]))
    }
}
