import CKSDomain
import CKSPersistence
import CKSWire
import Crypto
import Foundation

/// Cryptographic operations with real AES-256-GCM, so what a teardown step does to an application is observable.
extension KMSEngine {
    func encrypt(_ r: EncryptRequest, _ caller: Caller) async throws -> EncryptResponse {
        try Self.checkAlgorithm(r.encryptionAlgorithm)
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        if let answer = try await useLiveKey(r.keyId, caller, operation: .encrypt, context: r.encryptionContext,
                                             dryRun: r.dryRun == true, { live in
            EncryptResponse(ciphertextBlob: try await self.sealLive(live, r.plaintext, context: r.encryptionContext ?? [:],
                                                                   operation: .encrypt, requestId: caller.requestId),
                            keyId: live.key.arn, encryptionAlgorithm: "SYMMETRIC_DEFAULT")
        }) { return answer }
        return try await useKey(r.keyId, caller, operation: .encrypt, context: r.encryptionContext, dryRun: r.dryRun == true) { key in
            let blob = try CiphertextBlob.seal(r.plaintext, keyId: key.id, material: key.material ?? Data(),
                                               context: r.encryptionContext ?? [:])
            return EncryptResponse(ciphertextBlob: blob, keyId: key.arn, encryptionAlgorithm: "SYMMETRIC_DEFAULT")
        }
    }

    func decrypt(_ r: DecryptRequest, _ caller: Caller) async throws -> DecryptResponse {
        let scope = caller.scope
        try Self.checkAlgorithm(r.encryptionAlgorithm)
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        guard let blob = r.ciphertextBlob else { throw KMSError(.validation, "CiphertextBlob is required.") }
        let keyId = try CiphertextBlob.keyId(of: blob)
        if let requested = r.keyId {
            // The KeyId, when given, must name the key the ciphertext was made with.
            let named = try await read { db, now in try Self.resolveKey(requested, allowAlias: true, scope, db, now).id }
            guard named == keyId else {
                throw KMSError(.incorrectKey, "The key ID in the request does not identify a KMS key that can perform this operation.")
            }
        }
        if let answer = try await useLiveKey(keyId, caller, operation: .decrypt, context: r.encryptionContext,
                                             dryRun: r.dryRun == true, { live in
            DecryptResponse(keyId: live.key.arn, plaintext: try await self.openLive(live, blob, context: r.encryptionContext ?? [:],
                                                                                    requestId: caller.requestId),
                            encryptionAlgorithm: "SYMMETRIC_DEFAULT", keyMaterialId: nil)
        }) { return answer }
        return try await useKey(keyId, caller, operation: .decrypt, context: r.encryptionContext, dryRun: r.dryRun == true) { key in
            let plaintext = try CiphertextBlob.open(blob, material: key.material ?? Data(), context: r.encryptionContext ?? [:])
            return DecryptResponse(keyId: key.arn, plaintext: plaintext, encryptionAlgorithm: "SYMMETRIC_DEFAULT",
                                   keyMaterialId: key.origin == .awsKMS ? key.material.map(Self.materialIdentifier) : nil)
        }
    }

    func generateDataKey(_ r: GenerateDataKeyRequest, _ caller: Caller) async throws -> GenerateDataKeyResponse {
        let size = try Self.dataKeySize(keySpec: r.keySpec, numberOfBytes: r.numberOfBytes)
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        if let answer = try await useLiveKey(r.keyId, caller, operation: .generateDataKey, context: r.encryptionContext,
                                             dryRun: r.dryRun == true, { live in
            let plaintext = Self.randomBytes(size)
            return GenerateDataKeyResponse(ciphertextBlob: try await self.sealLive(live, plaintext, context: r.encryptionContext ?? [:],
                                                                                  operation: .generateDataKey, requestId: caller.requestId),
                                           plaintext: plaintext, keyId: live.key.arn, keyMaterialId: nil)
        }) { return answer }
        return try await useKey(r.keyId, caller, operation: .generateDataKey, context: r.encryptionContext, dryRun: r.dryRun == true) { key in
            let plaintext = Self.randomBytes(size)
            let blob = try CiphertextBlob.seal(plaintext, keyId: key.id, material: key.material ?? Data(),
                                               context: r.encryptionContext ?? [:])
            return GenerateDataKeyResponse(ciphertextBlob: blob, plaintext: plaintext, keyId: key.arn,
                                           keyMaterialId: key.origin == .awsKMS ? key.material.map(Self.materialIdentifier) : nil)
        }
    }

    static func dataKeySize(keySpec: String?, numberOfBytes: Int?) throws -> Int {
        switch (keySpec, numberOfBytes) {
        case ("AES_256", nil): return 32
        case ("AES_128", nil): return 16
        case (nil, let n?): return n
        default: throw KMSError(.validation, "Please specify either number of bytes or key spec.")
        }
    }

    func generateDataKeyWithoutPlaintext(_ r: GenerateDataKeyWithoutPlaintextRequest, _ caller: Caller) async throws
        -> GenerateDataKeyWithoutPlaintextResponse {
        let size = try Self.dataKeySize(keySpec: r.keySpec, numberOfBytes: r.numberOfBytes)
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        if let answer = try await useLiveKey(r.keyId, caller, operation: .generateDataKeyWithoutPlaintext, context: r.encryptionContext,
                                             dryRun: r.dryRun == true, { live in
            GenerateDataKeyWithoutPlaintextResponse(
                ciphertextBlob: try await self.sealLive(live, Self.randomBytes(size), context: r.encryptionContext ?? [:],
                                                        operation: .generateDataKeyWithoutPlaintext, requestId: caller.requestId),
                keyId: live.key.arn, keyMaterialId: nil)
        }) { return answer }
        return try await useKey(r.keyId, caller, operation: .generateDataKeyWithoutPlaintext, context: r.encryptionContext,
                                dryRun: r.dryRun == true) { key in
            let blob = try CiphertextBlob.seal(Self.randomBytes(size), keyId: key.id, material: key.material ?? Data(),
                                               context: r.encryptionContext ?? [:])
            return GenerateDataKeyWithoutPlaintextResponse(ciphertextBlob: blob, keyId: key.arn,
                keyMaterialId: key.origin == .awsKMS ? key.material.map(Self.materialIdentifier) : nil)
        }
    }

    /// Decrypts under the source key and encrypts under the destination key, server side: the way to move
    /// ciphertext off a key before it is deleted. Each key is checked (state, backend, grants) as its own use.
    func reEncrypt(_ r: ReEncryptRequest, _ caller: Caller) async throws -> ReEncryptResponse {
        let scope = caller.scope
        try Self.checkAlgorithm(r.sourceEncryptionAlgorithm)
        try Self.checkAlgorithm(r.destinationEncryptionAlgorithm)
        if let tokens = r.grantTokens { try Self.checkGrantTokens(tokens) }
        guard let blob = r.ciphertextBlob else { throw KMSError(.validation, "CiphertextBlob is required.") }
        let sourceId = try CiphertextBlob.keyId(of: blob)
        if let requested = r.sourceKeyId {
            let named = try await read { db, now in try Self.resolveKey(requested, allowAlias: true, scope, db, now).id }
            guard named == sourceId else {
                throw KMSError(.incorrectKey, "The key ID in the request does not identify a KMS key that can perform this operation.")
            }
        }
        let fromLive = try await useLiveKey(sourceId, caller, operation: .reEncrypt, grantOperation: "ReEncryptFrom",
                                            context: r.sourceEncryptionContext, dryRun: false, { live in
            (try await self.openLive(live, blob, context: r.sourceEncryptionContext ?? [:], operation: .reEncrypt,
                                     requestId: caller.requestId), live.key.arn)
        })
        let (plaintext, source): (Data, String)
        if let fromLive {
            (plaintext, source) = fromLive
        } else {
            (plaintext, source) = try await useKey(sourceId, caller, operation: .reEncrypt, grantOperation: "ReEncryptFrom",
                                                   context: r.sourceEncryptionContext, dryRun: false) { key in
                (try CiphertextBlob.open(blob, material: key.material ?? Data(), context: r.sourceEncryptionContext ?? [:]), key.arn)
            }
        }
        if let answer = try await useLiveKey(r.destinationKeyId, caller, operation: .reEncrypt, grantOperation: "ReEncryptTo",
                                             context: r.destinationEncryptionContext, dryRun: r.dryRun == true, { live in
            ReEncryptResponse(ciphertextBlob: try await self.sealLive(live, plaintext, context: r.destinationEncryptionContext ?? [:],
                                                                     operation: .reEncrypt, requestId: caller.requestId),
                              sourceKeyId: source, keyId: live.key.arn, sourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
                              destinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT")
        }) { return answer }
        return try await useKey(r.destinationKeyId, caller, operation: .reEncrypt, grantOperation: "ReEncryptTo",
                                context: r.destinationEncryptionContext, dryRun: r.dryRun == true) { key in
            let sealed = try CiphertextBlob.seal(plaintext, keyId: key.id, material: key.material ?? Data(),
                                                 context: r.destinationEncryptionContext ?? [:])
            return ReEncryptResponse(ciphertextBlob: sealed, sourceKeyId: source, keyId: key.arn,
                                     sourceEncryptionAlgorithm: "SYMMETRIC_DEFAULT",
                                     destinationEncryptionAlgorithm: "SYMMETRIC_DEFAULT")
        }
    }

    func generateRandom(_ r: GenerateRandomRequest, _ scope: ResourceScope) async throws -> GenerateRandomResponse {
        guard let n = r.numberOfBytes else { throw KMSError(.validation, "NumberOfBytes is required.") }
        if let storeId = r.customKeyStoreId {
            try await read { db, now in
                let store = try Self.existingStore(storeId, scope, db, now)
                try ConnectionRules.generateRandom(storeId: store.id, type: store.type, state: store.connection.state)
                if let hsm = store.cloudHsm, let cluster = try db.cluster(id: hsm.clusterId, in: scope), cluster.hsmCount == 0 {
                    throw KMSError(.customKeyStoreInvalidState, "The AWS CloudHSM cluster \(cluster.id) of custom key store \(store.id) has no active HSM.")
                }
            }
        }
        return GenerateRandomResponse(plaintext: Self.randomBytes(n))
    }

    /// Runs a cryptographic operation on a key in one write transaction: resolves it (aliases allowed), checks
    /// table 2.3 and the simulated backend, runs `body`, and records the key's last usage (except on a database
    /// served read-only for recovery, where decrypting what it still holds is the point).
    /// `liveChecked`: called by `useLiveKey` once the key's real proxy answered.
    @discardableResult
    func useKey<T: Sendable>(_ keyId: String, _ caller: Caller, operation: KeyOperation, grantOperation: String? = nil,
                             context: [String: String]?, dryRun: Bool, liveChecked: Bool = false,
                             _ body: @escaping @Sendable (KMSKey) throws -> T) async throws -> T {
        let scope = caller.scope, requestId = caller.requestId ?? UUID().uuidString.lowercased()
        let trail = caller.trail
        let eventId = UUID().uuidString.lowercased()
        let (result, use) = try await write { w, now -> (T, KeyEvent?) in
            let key = try Self.resolveKey(keyId, allowAlias: true, scope, w, now)
            let grant = try Self.authorizingGrant(caller, key: key, operation: grantOperation ?? operation.rawValue,
                                                  context: context, w)
            let source = grant.map { "grant:\($0.id)" } ?? "principals-file"
            trail?.notes.withLock {
                $0.keyId = key.id
                $0.source = source
            }
            let (state, store) = try Self.effectiveState(of: key, w, now)
            try KeyStateRules.check(operation, state: state, arn: key.arn)
            if let store, try !self.checkLiveBackend(store, liveChecked: liveChecked, w) { try Self.checkBackend(key, store, w) }
            let result = try body(key)
            if dryRun {
                throw KMSError(.dryRunOperation, "The request would have succeeded, but the DryRun option is set.")
            }
            if self.isReadOnly { return (result, nil) }
            let at = now.kmsRounded
            try w.recordUsage(keyId: key.id, KeyLastUsage(operation: operation.rawValue, timestamp: at,
                                                          requestId: requestId, cloudTrailEventId: eventId))
            // The event of this use carries the id and time the last usage names (GetKeyLastUsage's
            // CloudTrailEventId finds it); the caller records it before answering. ReEncrypt has one per key.
            let use = trail == nil ? nil : KeyEvent(
                eventId: eventId, time: now, scope: scope, keyId: key.id, keyParameter: keyId,
                operation: operation.rawValue, principalArn: caller.arn, username: caller.principalName,
                accessKeyId: caller.accessKeyId, source: source, requestId: requestId, errorCode: nil,
                errorMessage: nil, readOnly: true)
            return (result, use)
        }
        if let use { trail?.notes.withLock { $0.uses.append(use) } }
        return result
    }

    /// A CONNECTED store whose backing store cannot serve the key: crypto fails with KMSInvalidStateException
    /// while the key state stays as it is (semantics §1.1, §2.2, §2.3).
    static func checkBackend(_ key: KMSKey, _ store: CustomKeyStore, _ r: DataReader) throws {
        if let hsm = store.cloudHsm {
            let cluster = try r.cluster(id: hsm.clusterId, in: store.scope)
            if cluster == nil || cluster?.hsmCount == 0 || cluster?.isActive == false {
                throw KMSError(.kmsInvalidState, "KMS cannot communicate with your CloudHSM cluster \(hsm.clusterId). "
                    + "Verify that the cluster is active and contains at least one active HSM.")
            }
        }
        if let xks = store.xks {
            let proxy = try r.proxy(uriEndpoint: xks.uriEndpoint, uriPath: xks.uriPath)
            guard let proxy else {
                throw KMSError(.kmsInvalidState, "KMS cannot communicate with the external key store proxy of custom key store \(store.id).")
            }
            if !proxy.accepts(accessKeyId: xks.accessKeyId, secret: xks.rawSecretAccessKey) {
                throw KMSError(.kmsInvalidState, "The external key store proxy rejected the request because the authentication credential of custom key store \(store.id) is not valid.")
            }
            if let id = key.xksKeyId, !proxy.externalKeyIds.contains(id) {
                throw KMSError(.kmsInvalidState, "The external key store proxy could not find the external key \(id) of \(key.arn).")
            }
        }
    }

    static func checkAlgorithm(_ algorithm: String?) throws {
        if let algorithm, algorithm != "SYMMETRIC_DEFAULT" {
            throw KMSError(.invalidKeyUsage, "The encryption algorithm \(algorithm) is not valid for a symmetric encryption KMS key. Use SYMMETRIC_DEFAULT.")
        }
    }

    static func randomBytes(_ n: Int) -> Data {
        var g = SystemRandomNumberGenerator()
        return Data((0..<max(0, n)).map { _ in UInt8.random(in: 0...255, using: &g) })
    }
}

/// The ciphertext blob: `CKS1` magic, the 36-character key id (so Decrypt needs no KeyId), the 12-byte nonce,
/// the AES-256-GCM ciphertext and its 16-byte tag. The key id and the encryption context are authenticated.
enum CiphertextBlob {
    static let magic = Data("CKS1".utf8)
    static let idLength = 36
    static let minimumLength = 4 + 36 + 12 + 16

    static func invalid() -> KMSError {
        KMSError(.invalidCiphertext, "The ciphertext is not valid: it was not produced by this KMS, was changed, or its encryption context does not match.")
    }

    static func keyId(of blob: Data) throws -> String {
        let bytes = [UInt8](blob)
        // `CKX1` blobs (a key of a store on a real proxy, `ExternalCiphertextBlob`) carry the key id at the same place.
        guard bytes.count >= minimumLength, Data(bytes[0..<4]) == magic || Data(bytes[0..<4]) == ExternalCiphertextBlob.magic,
              let id = String(bytes: bytes[4..<40], encoding: .ascii), KeyIdentifiers.isKeyId(id) else { throw invalid() }
        return id
    }

    static func seal(_ plaintext: Data, keyId: String, material: Data, context: [String: String]) throws -> Data {
        let sealed = try AES.GCM.seal(plaintext, using: SymmetricKey(data: material), authenticating: aad(keyId, context))
        return magic + Data(keyId.utf8) + Data(sealed.nonce) + sealed.ciphertext + sealed.tag
    }

    static func open(_ blob: Data, material: Data, context: [String: String]) throws -> Data {
        let bytes = [UInt8](blob)
        let id = try keyId(of: blob)
        do {
            let box = try AES.GCM.SealedBox(nonce: AES.GCM.Nonce(data: bytes[40..<52]), ciphertext: bytes[52..<(bytes.count - 16)],
                                            tag: bytes[(bytes.count - 16)...])
            return try AES.GCM.open(box, using: SymmetricKey(data: material), authenticating: aad(id, context))
        } catch {
            throw invalid()
        }
    }

    /// Key id plus the context, sorted and length-prefixed so no two contexts serialize alike.
    static func aad(_ keyId: String, _ context: [String: String]) -> Data {
        var out = Data("cks-aad:".utf8) + Data(keyId.utf8)
        for (k, v) in context.sorted(by: { $0.key < $1.key }) {
            for part in [k, v] {
                let bytes = Data(part.utf8)
                var n = UInt32(bytes.count).bigEndian
                out.append(Data(bytes: &n, count: 4))
                out.append(bytes)
            }
        }
        return out
    }
}
