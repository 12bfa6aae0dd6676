import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// The use record: every call that touches a key, answered or refused, becomes a `KeyEvent`.
extension KMSEngine {
    /// The KMS operations that touch a key, by target, with the request member that names it.
    static let recordedOperations: [String: String] = {
        var table: [String: String] = [:]
        let byKeyId: [any WireRequest.Type] = [
            DescribeKeyRequest.self, ScheduleKeyDeletionRequest.self, CancelKeyDeletionRequest.self,
            EnableKeyRequest.self, DisableKeyRequest.self, GetKeyLastUsageRequest.self, EncryptRequest.self,
            DecryptRequest.self, GenerateDataKeyRequest.self, GenerateDataKeyWithoutPlaintextRequest.self,
            CreateGrantRequest.self, ListGrantsRequest.self, RetireGrantRequest.self, RevokeGrantRequest.self,
            GetKeyPolicyRequest.self, PutKeyPolicyRequest.self, ListKeyPoliciesRequest.self, TagResourceRequest.self,
            UntagResourceRequest.self, ListResourceTagsRequest.self, UpdateKeyDescriptionRequest.self,
        ]
        for type in byKeyId { table[type.target] = "KeyId" }
        table[CreateAliasRequest.target] = "TargetKeyId"
        table[UpdateAliasRequest.target] = "TargetKeyId"
        table[DeleteAliasRequest.target] = "AliasName"
        table[ReEncryptRequest.target] = "DestinationKeyId"
        return table
    }()

    /// Runs a request; if it touches a key, records its event (success or error) before answering.
    func recorded(_ handler: Handler, target: String, parsed: JSONValue, caller: Caller) async throws -> Data {
        guard let recorder, let member = Self.recordedOperations[target] else {
            return try await run(handler, parsed: parsed, caller: caller)
        }
        let trail = EventTrail()
        var traced = caller
        traced.trail = trail
        do {
            let output = try await run(handler, parsed: parsed, caller: traced)
            let notes = trail.notes.withLock { $0 }
            if notes.uses.isEmpty {
                await recorder.record(event(target: target, member: member, parsed: parsed, caller: caller, notes: notes, error: nil))
            } else {
                for use in notes.uses { await recorder.record(use) }
            }
            return output
        } catch let error as KMSError {
            let notes = trail.notes.withLock { $0 }
            for use in notes.uses { await recorder.record(use) }
            await recorder.record(event(target: target, member: member, parsed: parsed, caller: caller, notes: notes, error: error))
            throw error
        }
    }

    public func recordRefusal(target: String, parsed: JSONValue, caller: Caller, error: KMSError) async {
        guard let recorder, let member = Self.recordedOperations[target] else { return }
        await recorder.record(event(target: target, member: member, parsed: parsed, caller: caller,
                                    notes: EventTrail.Notes(), error: error))
    }

    /// The event of a call: the key from what the handler resolved, else from the request (a key id or ARN as
    /// given, the key a ciphertext names; an alias is resolved when the event is written).
    func event(target: String, member: String, parsed: JSONValue, caller: Caller, notes: EventTrail.Notes,
               error: KMSError?) -> KeyEvent {
        let scope = caller.scope
        var parameter: String?
        if case let .string(text)? = parsed[member] { parameter = text }
        if member == "KeyId", parameter == nil, case let .string(blob)? = parsed["CiphertextBlob"],
           let data = Data(base64Encoded: blob), let id = try? CiphertextBlob.keyId(of: data) {
            parameter = id
        }
        var keyId = notes.keyId
        if keyId == nil, let parameter, case .keyId(let id)? = KeyReference.parse(parameter, in: scope) {
            keyId = id.lowercased()
        }
        let operation = WireOperation.operationName(of: target)
        let source = error?.code == .accessDenied ? "denied"
            : (notes.source ?? (caller.needsGrant ? "grant" : "principals-file"))
        return KeyEvent(eventId: UUID().uuidString.lowercased(), time: now(), scope: scope,
                        keyId: keyId, keyParameter: parameter, operation: operation, principalArn: caller.arn,
                        username: caller.principalName, accessKeyId: caller.accessKeyId, source: source,
                        requestId: caller.requestId ?? UUID().uuidString.lowercased(), errorCode: error?.code.rawValue,
                        errorMessage: error?.message, readOnly: KeyEventRules.readOnlyOperations.contains(operation))
    }
}
