import CKSDomain
import CKSPersistence
import CKSWire
import Crypto
import Foundation

/// Key operations (semantics §2): creation, description, listing, deletion scheduling, enabling.
extension KMSEngine {
    func createKey(_ r: CreateKeyRequest, _ scope: ResourceScope) async throws -> CreateKeyResponse {
        let spec = try Self.checkKeySpec(r)
        let origin = r.origin ?? .awsKMS
        switch origin {
        case .awsCloudHsm, .externalKeyStore:
            guard r.customKeyStoreId != nil else {
                throw KMSError(.validation, "CustomKeyStoreId is required when Origin is \(origin.rawValue).")
            }
            if r.multiRegion == true {
                throw KMSError(.unsupportedOperation, "Multi-Region keys cannot be created in a custom key store.")
            }
        case .awsKMS, .external:
            if let storeId = r.customKeyStoreId {
                throw KMSError(.validation, "Origin \(origin.rawValue) is not valid with CustomKeyStoreId \(storeId): set Origin to "
                    + "AWS_CLOUDHSM for an AWS CloudHSM key store or EXTERNAL_KEY_STORE for an external key store.")
            }
            if r.multiRegion == true {
                throw KMSError(.unsupportedOperation, "This KMS endpoint (cks) does not implement multi-Region keys.")
            }
        }
        if origin == .externalKeyStore, r.xksKeyId == nil {
            throw KMSError(.validation, "XksKeyId is required when Origin is EXTERNAL_KEY_STORE.")
        }
        if origin != .externalKeyStore, r.xksKeyId != nil {
            throw KMSError(.validation, "XksKeyId is valid only when Origin is EXTERNAL_KEY_STORE.")
        }
        let description = r.description ?? ""
        if let policy = r.policy { try KeyPolicyRules.validate(policy) }
        let checkedLive = try await checkLiveExternalKey(r, scope)
        let (key, store) = try await write { w, now -> (KMSKey, CustomKeyStore?) in
            var keyStore: CustomKeyStore?
            var key = KMSKey(id: KeyIdentifiers.newKeyId(), scope: scope, creationDate: now.kmsRounded, description: description,
                             keyUsage: "ENCRYPT_DECRYPT", keySpec: spec, origin: origin, storedState: .enabled,
                             material: Self.newKeyMaterial())
            if origin == .external {
                key.storedState = .pendingImport
                key.material = nil
            }
            if let storeId = r.customKeyStoreId {
                let store = try Self.existingStore(storeId, scope, w, now)
                let expected: CustomKeyStoreType = origin == .awsCloudHsm ? .awsCloudHsm : .externalKeyStore
                guard store.type == expected else {
                    throw KMSError(.validation, "Origin \(origin.rawValue) does not match custom key store \(store.id), "
                        + "which is of type \(store.type.rawValue).")
                }
                try ConnectionRules.createKey(storeId: store.id, state: store.connection.state)
                if let hsm = store.cloudHsm {
                    guard let cluster = try w.cluster(id: hsm.clusterId, in: scope) else {
                        throw KMSError(.customKeyStoreInvalidState, "AWS KMS cannot find the AWS CloudHSM cluster \(hsm.clusterId) of custom key store \(store.id).")
                    }
                    try BackendRules.checkActiveWithHsms(cluster, minimum: 2, operation: "CreateKey")
                }
                if let xks = store.xks, let xksKeyId = r.xksKeyId {
                    let usedBy = try w.keyUsing(xksKeyId: xksKeyId, storeId: store.id)
                    let proxy = try w.proxy(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath)
                    let known = checkedLive ? XksProxy(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath, accessKeyId: "",
                                                       rawSecretAccessKey: "", externalKeyIds: [xksKeyId]) : proxy
                    try BackendRules.checkXksKey(xksKeyId, proxy: known, storeId: store.id, usedBy: usedBy)
                    key.xksKeyId = xksKeyId
                }
                key.customKeyStoreId = store.id
                keyStore = store
            }
            try w.insert(key)
            if let policy = r.policy { try w.setPolicy(keyId: key.id, policy) }
            if let tags = r.tags, !tags.isEmpty { try Self.applyTags(tags, keyId: key.id, w) }
            return (key, keyStore)
        }
        return CreateKeyResponse(keyMetadata: Self.metadata(key, state: key.effectiveState(storeState: store?.connection.state), store: store))
    }

    /// The key specs this core creates: symmetric encryption keys (the only kind a custom key store holds).
    static func checkKeySpec(_ r: CreateKeyRequest) throws -> String {
        if let a = r.keySpec, let b = r.customerMasterKeySpec, a != b {
            throw KMSError(.validation, "KeySpec and CustomerMasterKeySpec must be the same when both are given.")
        }
        let spec = r.keySpec ?? r.customerMasterKeySpec ?? "SYMMETRIC_DEFAULT"
        let usage = r.keyUsage ?? "ENCRYPT_DECRYPT"
        guard spec == "SYMMETRIC_DEFAULT" else {
            if r.customKeyStoreId != nil {
                throw KMSError(.unsupportedOperation, "KeySpec \(spec) is not valid in a custom key store: only SYMMETRIC_DEFAULT keys can be created there.")
            }
            throw KMSError(.unsupportedOperation, "This KMS endpoint (cks) creates only SYMMETRIC_DEFAULT keys; KeySpec \(spec) is not implemented.")
        }
        guard usage == "ENCRYPT_DECRYPT" else {
            throw KMSError(.validation, "KeyUsage \(usage) is not compatible with KeySpec SYMMETRIC_DEFAULT.")
        }
        return spec
    }

    static func newKeyMaterial() -> Data { SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) } }

    func describeKey(_ r: DescribeKeyRequest, _ caller: Caller) async throws -> DescribeKeyResponse {
        let scope = caller.scope
        if caller.needsGrant {
            return try await read { db, now in
                let key = try Self.resolveKey(r.keyId, allowAlias: true, scope, db, now)
                _ = try Self.authorizingGrant(caller, key: key, operation: "DescribeKey", context: nil, db)
                let (state, store) = try Self.effectiveState(of: key, db, now)
                return DescribeKeyResponse(keyMetadata: Self.metadata(key, state: state, store: store))
            }
        }
        // A key id (not an alias or ARN) whose rows are cached is answered without a database transaction;
        // a deleted key goes the database way, which says why it is not found.
        if case .keyId(let id)? = KeyReference.parse(r.keyId, in: scope),
           let cached = keyRows.entry(keyId: id.lowercased(), in: scope) {
            let now = self.now()
            if !cached.key.isDeleted(at: now) {
                let (state, store) = Self.effectiveState(of: cached.key, storeRow: cached.store, now)
                return DescribeKeyResponse(keyMetadata: Self.metadata(cached.key, state: state, store: store))
            }
        }
        let generation = keyRows.generationForFill()
        let (response, entry) = try await read { db, now -> (DescribeKeyResponse, KeyRowCache.Entry) in
            let key = try Self.resolveKey(r.keyId, allowAlias: true, scope, db, now)
            let storeRow = try key.customKeyStoreId.flatMap { try db.store(id: $0) }
            let (state, store) = Self.effectiveState(of: key, storeRow: storeRow, now)
            return (DescribeKeyResponse(keyMetadata: Self.metadata(key, state: state, store: store)),
                    KeyRowCache.Entry(key: key, store: storeRow))
        }
        if let generation { keyRows.fill(entry, generation: generation) }
        return response
    }

    func listKeys(_ r: ListKeysRequest, _ scope: ResourceScope) async throws -> ListKeysResponse {
        let after = try r.marker.map { m throws(KMSError) in try PageMarker.decodeSequence(m, as: .keys) }
        let limit = PageMarker.limit(r.limit, default: 100)
        return try await read { db, now in
            let page = try db.keyIds(in: scope, existingAt: now, after: after, limit: limit)
            return ListKeysResponse(keys: page.items.map { KeyListEntry(keyId: $0, keyArn: scope.keyARN($0)) },
                                    nextMarker: page.nextPosition.map { PageMarker.encode(.keys, $0) },
                                    truncated: page.nextPosition != nil)
        }
    }

    func scheduleKeyDeletion(_ r: ScheduleKeyDeletionRequest, _ scope: ResourceScope) async throws -> ScheduleKeyDeletionResponse {
        let window = try KeyStates.pendingWindow(r.pendingWindowInDays)
        return try await write { w, now in
            var key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.scheduleKeyDeletion, state: state, arn: key.arn)
            let deletionDate = KeyStates.deletionDate(from: now, windowInDays: window).kmsRounded
            key.storedState = .pendingDeletion
            key.deletionDate = deletionDate
            key.pendingWindowInDays = window
            try w.updateState(of: key)
            return ScheduleKeyDeletionResponse(keyId: key.arn, deletionDate: deletionDate, keyState: .pendingDeletion,
                                               pendingWindowInDays: window)
        }
    }

    func cancelKeyDeletion(_ r: CancelKeyDeletionRequest, _ scope: ResourceScope) async throws -> CancelKeyDeletionResponse {
        try await write { w, now in
            var key = try Self.resolveKey(r.keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(.cancelKeyDeletion, state: state, arn: key.arn)
            if case .store(let s) = KeyStateRules.change(for: .cancelKeyDeletion, stored: key.storedState, hasMaterial: key.material != nil) {
                key.storedState = s
            }
            key.deletionDate = nil
            key.pendingWindowInDays = nil
            try w.updateState(of: key)
            return CancelKeyDeletionResponse(keyId: key.arn)
        }
    }

    /// EnableKey / DisableKey. On an Unavailable key the call succeeds and the new state shows once the store is
    /// connected again (semantics §2.2, footnote 12).
    func setEnabled(_ enabled: Bool, keyId: String, _ scope: ResourceScope) async throws -> EmptyResponse {
        let op: KeyOperation = enabled ? .enableKey : .disableKey
        try await write { w, now in
            var key = try Self.resolveKey(keyId, allowAlias: false, scope, w, now)
            let (state, _) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(op, state: state, arn: key.arn)
            if case .store(let s) = KeyStateRules.change(for: op, stored: key.storedState) {
                key.storedState = s
                try w.updateState(of: key)
            }
        }
        return EmptyResponse()
    }

    func getKeyLastUsage(_ r: GetKeyLastUsageRequest, _ scope: ResourceScope) async throws -> GetKeyLastUsageResponse {
        let start = trackingStart
        return try await read { db, now in
            let key = try Self.resolveKey(r.keyId, allowAlias: false, scope, db, now)
            let usage = key.lastUsage.map {
                KeyLastUsageData(operation: $0.operation, timestamp: $0.timestamp.kmsRounded,
                                 cloudTrailEventId: $0.cloudTrailEventId, kmsRequestId: $0.requestId)
            }
            // "the date from which KMS began recording ... or the date the key was created, whichever is later"
            return GetKeyLastUsageResponse(keyId: key.arn, keyLastUsage: usage,
                                           trackingStartDate: max(start, key.creationDate.kmsRounded),
                                           keyCreationDate: key.creationDate.kmsRounded)
        }
    }

    // MARK: Resolution and views

    /// Resolves a `KeyId` parameter to a key of `scope` that exists at `now`: key id or key ARN, and for
    /// operations that accept them alias name or alias ARN. Everything else is `NotFoundException`.
    static func resolveKey(_ raw: String, allowAlias: Bool, _ scope: ResourceScope, _ r: DataReader, _ now: Date) throws -> KMSKey {
        guard let reference = KeyReference.parse(raw, in: scope) else {
            if raw.hasPrefix("arn:") && !raw.contains(":alias/") {
                throw KMSError(.notFound, "Key '\(raw)' does not exist")
            }
            throw KMSError(.notFound, "Invalid keyId '\(raw)'")
        }
        let keyId: String
        switch reference {
        case .keyId(let id):
            keyId = id.lowercased()
        case .alias(let name):
            guard allowAlias else { throw KMSError(.notFound, "Invalid keyId '\(raw)'") }
            guard let alias = try r.alias(named: name, in: scope) else {
                throw KMSError(.notFound, "Alias \(scope.aliasARN(name)) is not found.")
            }
            keyId = alias.targetKeyId
            guard let key = try r.key(id: keyId, in: scope), !key.isDeleted(at: now) else {
                throw KMSError(.notFound, "Alias \(scope.aliasARN(name)) is not found.")
            }
            return key
        }
        guard let key = try r.key(id: keyId, in: scope), !key.isDeleted(at: now) else {
            throw KMSError(.notFound, "Key '\(scope.keyARN(keyId))' does not exist")
        }
        return key
    }

    /// The key's effective state at `now` and its store (settled at `now`), if it lives in one.
    static func effectiveState(of key: KMSKey, _ r: DataReader, _ now: Date) throws -> (KeyState, CustomKeyStore?) {
        effectiveState(of: key, storeRow: try key.customKeyStoreId.flatMap { try r.store(id: $0) }, now)
    }

    /// As above, from the store's row as read (not yet resolved at `now`).
    static func effectiveState(of key: KMSKey, storeRow: CustomKeyStore?, _ now: Date) -> (KeyState, CustomKeyStore?) {
        let store = storeRow?.resolved(at: now)
        return (key.effectiveState(storeState: key.customKeyStoreId == nil ? nil : (store?.connection.state ?? .disconnected)), store)
    }

    /// `KeyMetadata` as DescribeKey and CreateKey return it (semantics §2.6).
    static func metadata(_ key: KMSKey, state: KeyState, store: CustomKeyStore?) -> KeyMetadata {
        let materialId: String? = (key.origin == .awsKMS || key.origin == .external) ? key.material.map(materialIdentifier) : nil
        return KeyMetadata(
            awsAccountId: key.scope.account, keyId: key.id, arn: key.arn, creationDate: key.creationDate.kmsRounded,
            enabled: state == .enabled, description: key.description, keyUsage: key.keyUsage, keyState: state,
            deletionDate: state == .pendingDeletion ? key.deletionDate?.kmsRounded : nil,
            validTo: nil, origin: key.origin, customKeyStoreId: key.customKeyStoreId,
            cloudHsmClusterId: key.origin == .awsCloudHsm ? store?.cloudHsm?.clusterId : nil,
            expirationModel: nil,
            keyManager: "CUSTOMER", customerMasterKeySpec: key.keySpec, keySpec: key.keySpec,
            encryptionAlgorithms: ["SYMMETRIC_DEFAULT"], multiRegion: false,
            xksKeyConfiguration: key.xksKeyId.map { XksKeyConfigurationType(id: $0) },
            currentKeyMaterialId: materialId)
    }

    /// A stable, non-secret identifier of key material (64 hex digits, as KMS's backing key ids).
    static func materialIdentifier(_ material: Data) -> String {
        // Hex by table: String(format:) per byte is costly on DescribeKey's path (docs/perf/decisions.md).
        let digits = Array("0123456789abcdef".utf8)
        var hex = [UInt8]()
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Data("cks-backing-key".utf8) + material) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: hex, as: UTF8.self)
    }
}
