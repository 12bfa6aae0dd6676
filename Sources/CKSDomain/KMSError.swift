/// Every error the core can return, named by its AWS `__type`. One enum for server and client,
/// so a client switch over errors is checked against what the server can actually say.
public enum KMSErrorCode: String, Sendable, Codable, CaseIterable, Hashable {
    // Modelled KMS exceptions (botocore `service-2.json`).
    case alreadyExists = "AlreadyExistsException"
    case cloudHsmClusterInUse = "CloudHsmClusterInUseException"
    case cloudHsmClusterInvalidConfiguration = "CloudHsmClusterInvalidConfigurationException"
    case cloudHsmClusterNotActive = "CloudHsmClusterNotActiveException"
    case cloudHsmClusterNotFound = "CloudHsmClusterNotFoundException"
    case cloudHsmClusterNotRelated = "CloudHsmClusterNotRelatedException"
    case conflict = "ConflictException"
    case customKeyStoreHasCMKs = "CustomKeyStoreHasCMKsException"
    case customKeyStoreInvalidState = "CustomKeyStoreInvalidStateException"
    case customKeyStoreNameInUse = "CustomKeyStoreNameInUseException"
    case customKeyStoreNotFound = "CustomKeyStoreNotFoundException"
    case dependencyTimeout = "DependencyTimeoutException"
    case disabled = "DisabledException"
    case dryRunOperation = "DryRunOperationException"
    case incorrectKey = "IncorrectKeyException"
    case incorrectTrustAnchor = "IncorrectTrustAnchorException"
    case invalidAliasName = "InvalidAliasNameException"
    case invalidArn = "InvalidArnException"
    case invalidCiphertext = "InvalidCiphertextException"
    case invalidGrantId = "InvalidGrantIdException"
    case invalidGrantToken = "InvalidGrantTokenException"
    case invalidKeyUsage = "InvalidKeyUsageException"
    case invalidMarker = "InvalidMarkerException"
    case kmsInternal = "KMSInternalException"
    case kmsInvalidState = "KMSInvalidStateException"
    case keyUnavailable = "KeyUnavailableException"
    case limitExceeded = "LimitExceededException"
    case malformedPolicyDocument = "MalformedPolicyDocumentException"
    case notFound = "NotFoundException"
    case tag = "TagException"
    case unsupportedOperation = "UnsupportedOperationException"
    case xksKeyAlreadyInUse = "XksKeyAlreadyInUseException"
    case xksKeyInvalidConfiguration = "XksKeyInvalidConfigurationException"
    case xksKeyNotFound = "XksKeyNotFoundException"
    case xksProxyIncorrectAuthenticationCredential = "XksProxyIncorrectAuthenticationCredentialException"
    case xksProxyInvalidConfiguration = "XksProxyInvalidConfigurationException"
    case xksProxyInvalidResponse = "XksProxyInvalidResponseException"
    case xksProxyUriEndpointInUse = "XksProxyUriEndpointInUseException"
    case xksProxyUriInUse = "XksProxyUriInUseException"
    case xksProxyUriUnreachable = "XksProxyUriUnreachableException"
    case xksProxyVpcEndpointServiceInUse = "XksProxyVpcEndpointServiceInUseException"
    case xksProxyVpcEndpointServiceInvalidConfiguration = "XksProxyVpcEndpointServiceInvalidConfigurationException"
    case xksProxyVpcEndpointServiceNotFound = "XksProxyVpcEndpointServiceNotFoundException"
    // CloudTrail LookupEvents errors (botocore cloudtrail 2013-11-01).
    case invalidLookupAttributes = "InvalidLookupAttributesException"
    case invalidTimeRange = "InvalidTimeRangeException"
    case invalidMaxResults = "InvalidMaxResultsException"
    case invalidNextToken = "InvalidNextTokenException"
    case invalidEventCategory = "InvalidEventCategoryException"
    // Common, unmodelled errors of the AWS JSON protocol and SigV4.
    case accessDenied = "AccessDeniedException"
    case incompleteSignature = "IncompleteSignatureException"
    case invalidSignature = "InvalidSignatureException"
    case missingAuthenticationToken = "MissingAuthenticationTokenException"
    case serialization = "SerializationException"
    case throttling = "ThrottlingException"
    case unknownOperation = "UnknownOperationException"
    case unrecognizedClient = "UnrecognizedClientException"
    case validation = "ValidationException"
    /// Body over the size limit; AWS answers such requests with a 4xx before reading them whole.
    case requestEntityTooLarge = "RequestEntityTooLargeException"

    /// HTTP status the core sends. Real KMS answers 400 for every client error (semantics §6.2),
    /// 5xx only for internal faults and dependency time-outs.
    public var httpStatus: Int {
        switch self {
        case .kmsInternal, .keyUnavailable: return 500
        case .dependencyTimeout: return 503
        case .requestEntityTooLarge: return 413
        default: return 400
        }
    }

    /// Whether a client may retry the call unchanged and expect a different outcome.
    public var isRetryable: Bool {
        switch self {
        case .kmsInternal, .keyUnavailable, .dependencyTimeout, .throttling: return true
        default: return false
        }
    }
}

/// An AWS error as it travels on the wire: the `__type` and the `message`.
public struct KMSError: Error, Sendable, Hashable, CustomStringConvertible {
    public var code: KMSErrorCode
    public var message: String
    /// For a service fault: what went wrong, for the operator's log; never sent, and never a secret or request
    /// data. Not part of equality.
    public var cause: String?

    public init(_ code: KMSErrorCode, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func == (a: KMSError, b: KMSError) -> Bool { a.code == b.code && a.message == b.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}
