import Crypto
import Foundation

/// The four XKS Proxy API operations and the last segment of their URI.
public enum XKSOperation: String, Sendable, CaseIterable {
    case getKeyMetadata = "metadata"
    case encrypt
    case decrypt
    case getHealthStatus = "health"

    /// The name the spec gives the operation (logs, messages).
    public var apiName: String {
        switch self {
        case .getKeyMetadata: "GetKeyMetadata"
        case .encrypt: "Encrypt"
        case .decrypt: "Decrypt"
        case .getHealthStatus: "GetHealthStatus"
        }
    }
}

/// An XKS API URI path: `[/<prefix>]/kms/xks/v1/health` or `[/<prefix>]/kms/xks/v1/keys/<externalKeyId>/<op>`.
public struct XKSPath: Sendable, Hashable {
    /// The path prefix without leading or trailing slashes ("" when there is none).
    public var prefix: String
    public var operation: XKSOperation
    /// nil for GetHealthStatus.
    public var keyId: String?

    public init(prefix: String, operation: XKSOperation, keyId: String? = nil) {
        self.prefix = XKSPath.normalizedPrefix(prefix)
        self.operation = operation
        self.keyId = keyId
    }

    /// The path as sent on the wire.
    public var rendered: String {
        let base = (prefix.isEmpty ? "" : "/" + prefix) + "/kms/xks/v1"
        if let keyId { return "\(base)/keys/\(keyId)/\(operation.rawValue)" }
        return "\(base)/\(operation.rawValue)"
    }

    /// A configured prefix as the proxy compares it: no leading or trailing slash.
    public static func normalizedPrefix(_ text: String) -> String {
        var slice = Substring(text)
        while slice.hasPrefix("/") { slice = slice.dropFirst() }
        while slice.hasSuffix("/") { slice = slice.dropLast() }
        return String(slice)
    }

    /// Recognises an XKS API path (query already removed); nil when it is not one of the four API URIs.
    /// A key id is taken as it appears (it is checked against the key id rules later).
    public static func parse(_ path: String) -> XKSPath? {
        guard path.hasPrefix("/") else { return nil }
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        let parts = Array(segments)
        func isVersionRoot(_ end: Int) -> Bool {
            end >= 3 && parts[end - 3] == "kms" && parts[end - 2] == "xks" && parts[end - 1] == "v1"
        }
        func prefix(before end: Int) -> String? {
            let head = parts[..<(end - 3)]
            // Empty segments (a doubled slash) make a different path than the one configured.
            guard !head.contains(where: \.isEmpty) else { return nil }
            return head.joined(separator: "/")
        }
        guard let last = parts.last else { return nil }
        if last == "health", isVersionRoot(parts.count - 1), let prefix = prefix(before: parts.count - 1) {
            return XKSPath(prefix: prefix, operation: .getHealthStatus)
        }
        let n = parts.count
        if n >= 6, let operation = XKSOperation(rawValue: String(last)), operation != .getHealthStatus,
           parts[n - 3] == "keys", !parts[n - 2].isEmpty, isVersionRoot(n - 3), let prefix = prefix(before: n - 3) {
            return XKSPath(prefix: prefix, operation: operation, keyId: String(parts[n - 2]))
        }
        return nil
    }

    /// The spec's rule for an externalKeyId: 1-128 characters of A-Z, a-z, 0-9, '-', '.', '_'.
    public static func isValidKeyId(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { b in
            (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
        }
    }
}

/// `requestMetadata`, present in every XKS request. Which fields are required depends on the operation.
public struct XKSRequestMetadata: Sendable, Hashable {
    public var awsPrincipalArn: String?
    public var awsSourceVpc: String?
    public var awsSourceVpce: String?
    public var kmsKeyArn: String?
    /// Never rejected for being unknown: KMS may add operations.
    public var kmsOperation: String
    /// Opaque (usually a UUID, never validated).
    public var kmsRequestId: String
    public var kmsViaService: String?

    public init(awsPrincipalArn: String? = nil, awsSourceVpc: String? = nil, awsSourceVpce: String? = nil,
                kmsKeyArn: String? = nil, kmsOperation: String, kmsRequestId: String, kmsViaService: String? = nil) {
        self.awsPrincipalArn = awsPrincipalArn
        self.awsSourceVpc = awsSourceVpc
        self.awsSourceVpce = awsSourceVpce
        self.kmsKeyArn = kmsKeyArn
        self.kmsOperation = kmsOperation
        self.kmsRequestId = kmsRequestId
        self.kmsViaService = kmsViaService
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = []
        func add(_ name: String, _ value: String?) { if let value { members.append((name, .string(value))) } }
        add("awsPrincipalArn", awsPrincipalArn)
        add("awsSourceVpc", awsSourceVpc)
        add("awsSourceVpce", awsSourceVpce)
        add("kmsKeyArn", kmsKeyArn)
        add("kmsOperation", kmsOperation)
        add("kmsRequestId", kmsRequestId)
        add("kmsViaService", kmsViaService)
        return .object(members)
    }

    /// Reads and checks `requestMetadata` of a request body for `operation` (ValidationException otherwise):
    /// kmsOperation and kmsRequestId always; awsPrincipalArn except for health; kmsKeyArn for Encrypt and Decrypt.
    public static func parse(body: JSONValue, for operation: XKSOperation) throws(XKSError) -> XKSRequestMetadata {
        guard case .object = body else { throw XKSError(.validation, "The request body must be a JSON object.") }
        guard let value = body["requestMetadata"] else {
            throw XKSError(.validation, "The request is missing requestMetadata.")
        }
        guard case .object = value else { throw XKSError(.validation, "requestMetadata must be a JSON object.") }
        let reader = XKSFieldReader(object: value, context: "requestMetadata.")
        let needsPrincipal = operation != .getHealthStatus
        let needsKeyArn = operation == .encrypt || operation == .decrypt
        let principal = try reader.string("awsPrincipalArn", required: needsPrincipal)
        let sourceVpc = try reader.string("awsSourceVpc")
        let sourceVpce = try reader.string("awsSourceVpce")
        let keyArn = try reader.string("kmsKeyArn", required: needsKeyArn)
        let kmsOperation = try reader.string("kmsOperation", required: true, nonEmpty: true)!
        let requestId = try reader.string("kmsRequestId", required: true)!
        let viaService = try reader.string("kmsViaService")
        if needsPrincipal, principal?.isEmpty == true {
            throw XKSError(.validation, "requestMetadata.awsPrincipalArn must not be empty.")
        }
        if needsKeyArn, keyArn?.isEmpty == true {
            throw XKSError(.validation, "requestMetadata.kmsKeyArn must not be empty.")
        }
        return XKSRequestMetadata(awsPrincipalArn: principal, awsSourceVpc: sourceVpc, awsSourceVpce: sourceVpce,
                                  kmsKeyArn: keyArn, kmsOperation: kmsOperation, kmsRequestId: requestId,
                                  kmsViaService: viaService)
    }
}

/// Reads typed members of a JSON object, with ValidationException messages naming the member.
struct XKSFieldReader {
    let object: JSONValue
    let context: String

    func string(_ name: String, required: Bool = false, nonEmpty: Bool = false) throws(XKSError) -> String? {
        guard let value = object[name], value != .null else {
            if required { throw XKSError(.validation, "\(context)\(name) is required.") }
            return nil
        }
        guard case let .string(text) = value else { throw XKSError(.validation, "\(context)\(name) must be a string.") }
        if nonEmpty, text.isEmpty { throw XKSError(.validation, "\(context)\(name) must not be empty.") }
        return text
    }

    /// A standard Base64 member (RFC 4648 §4, padded).
    func bytes(_ name: String, required: Bool = false) throws(XKSError) -> Data? {
        guard let text = try string(name, required: required) else { return nil }
        guard let data = Data(base64Encoded: text) else {
            throw XKSError(.validation, "\(context)\(name) is not valid Base64.")
        }
        return data
    }
}

/// Limits of this implementation beyond the spec's minimums (plaintext and ciphertext 4,300 bytes, AAD 8,192).
public enum XKSLimits {
    public static let maxPlaintextBytes = 65_536
    /// The AAD's length travels in two bytes inside the AES-GCM AAD (spec, Encrypt: ciphertextMetadata).
    public static let maxAADBytes = 65_535
    public static let maxCiphertextMetadataBytes = 20
}

/// GetKeyMetadata's answer.
public struct XKSKeyMetadata: Sendable, Hashable {
    public var keySpec: String
    public var keyUsage: [String]
    public var keyStatus: String

    public init(keySpec: String = "AES_256", keyUsage: [String], keyStatus: String) {
        self.keySpec = keySpec
        self.keyUsage = keyUsage
        self.keyStatus = keyStatus
    }

    public var json: JSONValue {
        .object([("keySpec", .string(keySpec)), ("keyUsage", .array(keyUsage.map { .string($0) })),
                 ("keyStatus", .string(keyStatus))])
    }

    /// A proxy's answer as a client reads it; nil when malformed (missing members, over ten usages).
    public init?(json: JSONValue) {
        guard case let .string(spec)? = json["keySpec"], case let .array(usages)? = json["keyUsage"],
              usages.count <= 10, case let .string(status)? = json["keyStatus"] else { return nil }
        var names: [String] = []
        for usage in usages {
            guard case let .string(name) = usage else { return nil }
            names.append(name)
        }
        self.init(keySpec: spec, keyUsage: names, keyStatus: status)
    }
}

/// An Encrypt request (besides requestMetadata).
public struct XKSEncryptRequest: Sendable, Hashable {
    public var requestMetadata: XKSRequestMetadata
    public var plaintext: Data
    public var encryptionAlgorithm: String
    public var additionalAuthenticatedData: Data?
    public var ciphertextDataIntegrityValueAlgorithm: String?

    public init(requestMetadata: XKSRequestMetadata, plaintext: Data, encryptionAlgorithm: String = "AES_GCM",
                additionalAuthenticatedData: Data? = nil, ciphertextDataIntegrityValueAlgorithm: String? = nil) {
        self.requestMetadata = requestMetadata
        self.plaintext = plaintext
        self.encryptionAlgorithm = encryptionAlgorithm
        self.additionalAuthenticatedData = additionalAuthenticatedData
        self.ciphertextDataIntegrityValueAlgorithm = ciphertextDataIntegrityValueAlgorithm
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("requestMetadata", requestMetadata.json)]
        if let aad = additionalAuthenticatedData { members.append(("additionalAuthenticatedData", .string(aad.base64EncodedString()))) }
        members.append(("plaintext", .string(plaintext.base64EncodedString())))
        members.append(("encryptionAlgorithm", .string(encryptionAlgorithm)))
        if let algorithm = ciphertextDataIntegrityValueAlgorithm {
            members.append(("ciphertextDataIntegrityValueAlgorithm", .string(algorithm)))
        }
        return .object(members)
    }

    /// Parses and validates a request body (ValidationException for missing or mistyped members, an algorithm
    /// other than AES_GCM or a CDIV algorithm other than SHA_256; UnsupportedOperationException over the limits).
    public init(parsing body: JSONValue) throws(XKSError) {
        let metadata = try XKSRequestMetadata.parse(body: body, for: .encrypt)
        let reader = XKSFieldReader(object: body, context: "")
        let plaintext = try reader.bytes("plaintext", required: true)!
        let algorithm = try reader.string("encryptionAlgorithm", required: true)!
        let aad = try reader.bytes("additionalAuthenticatedData")
        let cdiv = try reader.string("ciphertextDataIntegrityValueAlgorithm")
        guard algorithm == "AES_GCM" else {
            throw XKSError(.validation, "encryptionAlgorithm must be AES_GCM.")
        }
        if let cdiv, cdiv != "SHA_256" {
            throw XKSError(.validation, "ciphertextDataIntegrityValueAlgorithm must be SHA_256.")
        }
        guard !plaintext.isEmpty else { throw XKSError(.validation, "plaintext must not be empty.") }
        guard plaintext.count <= XKSLimits.maxPlaintextBytes else {
            throw XKSError(.unsupportedOperation, "plaintext is larger than \(XKSLimits.maxPlaintextBytes) bytes.")
        }
        if let aad, aad.count > XKSLimits.maxAADBytes {
            throw XKSError(.unsupportedOperation, "additionalAuthenticatedData is larger than \(XKSLimits.maxAADBytes) bytes.")
        }
        self.init(requestMetadata: metadata, plaintext: plaintext, encryptionAlgorithm: algorithm,
                  additionalAuthenticatedData: aad, ciphertextDataIntegrityValueAlgorithm: cdiv)
    }
}

/// Encrypt's answer.
public struct XKSEncryptResponse: Sendable, Hashable {
    public var ciphertext: Data
    public var ciphertextMetadata: Data?
    public var initializationVector: Data
    public var authenticationTag: Data
    public var ciphertextDataIntegrityValue: Data?

    public init(ciphertext: Data, ciphertextMetadata: Data?, initializationVector: Data, authenticationTag: Data,
                ciphertextDataIntegrityValue: Data? = nil) {
        self.ciphertext = ciphertext
        self.ciphertextMetadata = ciphertextMetadata
        self.initializationVector = initializationVector
        self.authenticationTag = authenticationTag
        self.ciphertextDataIntegrityValue = ciphertextDataIntegrityValue
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("ciphertext", .string(ciphertext.base64EncodedString()))]
        if let metadata = ciphertextMetadata { members.append(("ciphertextMetadata", .string(metadata.base64EncodedString()))) }
        members.append(("initializationVector", .string(initializationVector.base64EncodedString())))
        members.append(("authenticationTag", .string(authenticationTag.base64EncodedString())))
        if let cdiv = ciphertextDataIntegrityValue {
            members.append(("ciphertextDataIntegrityValue", .string(cdiv.base64EncodedString())))
        }
        return .object(members)
    }

    /// A proxy's answer as a client reads it; nil when malformed (a client also checks lengths and the CDIV).
    public init?(json: JSONValue) {
        let reader = XKSFieldReader(object: json, context: "")
        let ciphertext: Data, iv: Data, tag: Data, metadata: Data?, cdiv: Data?
        do {
            ciphertext = try reader.bytes("ciphertext", required: true)!
            iv = try reader.bytes("initializationVector", required: true)!
            tag = try reader.bytes("authenticationTag", required: true)!
            metadata = try reader.bytes("ciphertextMetadata")
            cdiv = try reader.bytes("ciphertextDataIntegrityValue")
        } catch {
            return nil
        }
        self.init(ciphertext: ciphertext, ciphertextMetadata: metadata, initializationVector: iv, authenticationTag: tag,
                  ciphertextDataIntegrityValue: cdiv)
    }
}

/// A Decrypt request (besides requestMetadata).
public struct XKSDecryptRequest: Sendable, Hashable {
    public var requestMetadata: XKSRequestMetadata
    public var ciphertext: Data
    public var ciphertextMetadata: Data?
    public var encryptionAlgorithm: String
    public var additionalAuthenticatedData: Data?
    public var initializationVector: Data
    public var authenticationTag: Data

    public init(requestMetadata: XKSRequestMetadata, ciphertext: Data, ciphertextMetadata: Data? = nil,
                encryptionAlgorithm: String = "AES_GCM", additionalAuthenticatedData: Data? = nil,
                initializationVector: Data, authenticationTag: Data) {
        self.requestMetadata = requestMetadata
        self.ciphertext = ciphertext
        self.ciphertextMetadata = ciphertextMetadata
        self.encryptionAlgorithm = encryptionAlgorithm
        self.additionalAuthenticatedData = additionalAuthenticatedData
        self.initializationVector = initializationVector
        self.authenticationTag = authenticationTag
    }

    public var json: JSONValue {
        var members: [(String, JSONValue)] = [("requestMetadata", requestMetadata.json)]
        if let aad = additionalAuthenticatedData { members.append(("additionalAuthenticatedData", .string(aad.base64EncodedString()))) }
        members.append(("ciphertext", .string(ciphertext.base64EncodedString())))
        if let metadata = ciphertextMetadata { members.append(("ciphertextMetadata", .string(metadata.base64EncodedString()))) }
        members.append(("encryptionAlgorithm", .string(encryptionAlgorithm)))
        members.append(("initializationVector", .string(initializationVector.base64EncodedString())))
        members.append(("authenticationTag", .string(authenticationTag.base64EncodedString())))
        return .object(members)
    }

    /// Parses and validates a request body. Missing, mistyped or non-Base64 members and a wrong algorithm are
    /// ValidationException; an IV other than 12 or 16 bytes, a tag other than 16 bytes or ciphertextMetadata over
    /// 20 bytes cannot be a ciphertext this key made: InvalidCiphertextException.
    public init(parsing body: JSONValue) throws(XKSError) {
        let metadata = try XKSRequestMetadata.parse(body: body, for: .decrypt)
        let reader = XKSFieldReader(object: body, context: "")
        let ciphertext = try reader.bytes("ciphertext", required: true)!
        let ciphertextMetadata = try reader.bytes("ciphertextMetadata")
        let algorithm = try reader.string("encryptionAlgorithm", required: true)!
        let aad = try reader.bytes("additionalAuthenticatedData")
        let iv = try reader.bytes("initializationVector", required: true)!
        let tag = try reader.bytes("authenticationTag", required: true)!
        guard algorithm == "AES_GCM" else { throw XKSError(.validation, "encryptionAlgorithm must be AES_GCM.") }
        guard !ciphertext.isEmpty else { throw XKSError(.validation, "ciphertext must not be empty.") }
        guard ciphertext.count <= XKSLimits.maxPlaintextBytes else {
            throw XKSError(.unsupportedOperation, "ciphertext is larger than \(XKSLimits.maxPlaintextBytes) bytes.")
        }
        if let aad, aad.count > XKSLimits.maxAADBytes {
            throw XKSError(.unsupportedOperation, "additionalAuthenticatedData is larger than \(XKSLimits.maxAADBytes) bytes.")
        }
        guard iv.count == 12 || iv.count == 16 else {
            throw XKSError(.invalidCiphertext, "initializationVector must be 12 or 16 bytes.")
        }
        guard tag.count == 16 else { throw XKSError(.invalidCiphertext, "authenticationTag must be 16 bytes.") }
        if let ciphertextMetadata, ciphertextMetadata.count > XKSLimits.maxCiphertextMetadataBytes {
            throw XKSError(.invalidCiphertext, "ciphertextMetadata is larger than 20 bytes.")
        }
        self.init(requestMetadata: metadata, ciphertext: ciphertext, ciphertextMetadata: ciphertextMetadata,
                  encryptionAlgorithm: algorithm, additionalAuthenticatedData: aad, initializationVector: iv,
                  authenticationTag: tag)
    }
}

/// Decrypt's answer.
public struct XKSDecryptResponse: Sendable, Hashable {
    public var plaintext: Data
    public init(plaintext: Data) { self.plaintext = plaintext }
    public var json: JSONValue { .object([("plaintext", .string(plaintext.base64EncodedString()))]) }
    public init?(json: JSONValue) {
        // Required, so nil means absent or invalid.
        guard let plaintext = try? XKSFieldReader(object: json, context: "").bytes("plaintext", required: true) else {
            return nil
        }
        self.init(plaintext: plaintext)
    }
}

/// GetHealthStatus's answer.
public struct XKSHealthStatus: Sendable, Hashable {
    public enum Status: String, Sendable, Hashable { case active = "ACTIVE", degraded = "DEGRADED", unavailable = "UNAVAILABLE" }
    public struct EKM: Sendable, Hashable {
        public var id: String
        public var model: String
        public var healthStatus: Status
        public init(id: String, model: String, healthStatus: Status) {
            self.id = id
            self.model = model
            self.healthStatus = healthStatus
        }
    }

    public var xksProxyFleetSize: Int
    public var xksProxyVendor: String
    public var xksProxyModel: String
    public var ekmVendor: String
    /// 1 to 10 entries.
    public var ekmFleetDetails: [EKM]

    public init(xksProxyFleetSize: Int, xksProxyVendor: String, xksProxyModel: String, ekmVendor: String,
                ekmFleetDetails: [EKM]) {
        self.xksProxyFleetSize = xksProxyFleetSize
        self.xksProxyVendor = xksProxyVendor
        self.xksProxyModel = xksProxyModel
        self.ekmVendor = ekmVendor
        self.ekmFleetDetails = ekmFleetDetails
    }

    public var json: JSONValue {
        .object([
            ("xksProxyFleetSize", .number(String(xksProxyFleetSize))),
            ("xksProxyVendor", .string(xksProxyVendor)),
            ("xksProxyModel", .string(xksProxyModel)),
            ("ekmVendor", .string(ekmVendor)),
            ("ekmFleetDetails", .array(ekmFleetDetails.map {
                .object([("id", .string($0.id)), ("model", .string($0.model)), ("healthStatus", .string($0.healthStatus.rawValue))])
            })),
        ])
    }

    /// A proxy's answer as a client reads it; nil when malformed (fleet size < 1, 0 or over 10 EKMs, bad status).
    public init?(json: JSONValue) {
        guard case let .number(size)? = json["xksProxyFleetSize"], let fleet = Int(size), fleet > 0,
              case let .string(vendor)? = json["xksProxyVendor"], case let .string(model)? = json["xksProxyModel"],
              case let .string(ekmVendor)? = json["ekmVendor"], case let .array(entries)? = json["ekmFleetDetails"],
              (1...10).contains(entries.count) else { return nil }
        var ekms: [EKM] = []
        for entry in entries {
            guard case let .string(id)? = entry["id"], case let .string(ekmModel)? = entry["model"],
                  case let .string(status)? = entry["healthStatus"], let known = Status(rawValue: status) else { return nil }
            ekms.append(EKM(id: id, model: ekmModel, healthStatus: known))
        }
        self.init(xksProxyFleetSize: fleet, xksProxyVendor: vendor, xksProxyModel: model, ekmVendor: ekmVendor,
                  ekmFleetDetails: ekms)
    }
}

/// The ciphertext data integrity value (spec appendix C): Base64 of SHA-256 over
/// aad ‖ ciphertextMetadata ‖ iv ‖ ciphertext ‖ tag, absent members counting as empty. A proxy computes it
/// right after encrypting; a client recomputes it to check the proxy's answer.
public enum XKSIntegrity {
    public static func ciphertextDataIntegrityValue(additionalAuthenticatedData: Data?, ciphertextMetadata: Data?,
                                                    initializationVector: Data, ciphertext: Data,
                                                    authenticationTag: Data) -> Data {
        var hash = SHA256()
        if let aad = additionalAuthenticatedData { hash.update(data: aad) }
        if let metadata = ciphertextMetadata { hash.update(data: metadata) }
        hash.update(data: initializationVector)
        hash.update(data: ciphertext)
        hash.update(data: authenticationTag)
        return Data(hash.finalize())
    }
}

/// SigV4 for XKS requests, as KMS signs them: service `kms-xks-proxy`, signed headers `host;x-amz-date`.
public enum XKSRequestSigning {
    public static let service = "kms-xks-proxy"

    /// The headers to add to a POST of `body` to `path` on `host` (which carries the port when not the default):
    /// `Authorization` and `X-Amz-Date`.
    public static func sign(path: String, host: String, body: Data, credentials: AWSCredentials, region: String,
                            date: Date = Date()) -> [(String, String)] {
        SigV4.sign(method: "POST", path: path, query: "", headers: [("host", host)], body: body,
                   credentials: credentials, region: region, service: service, date: date, policy: .hostAndDate)
    }
}
