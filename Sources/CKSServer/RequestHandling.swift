import CKSDomain
import CKSWire
import Foundation

/// Who is calling, as the HTTP front resolved it from the SigV4 credential and the principals file.
/// The account isolates resources; the region (from the credential scope) selects that region's resources.
public struct Caller: Sendable, Hashable {
    public var account: String
    public var region: String
    public var principalName: String
    /// The `x-amzn-RequestId` the front will send back, if it chose one before calling the engine; the engine
    /// records it as the `KmsRequestId` of a key's last usage (GetKeyLastUsage). Nil → the engine makes one up.
    public var requestId: String?
    /// The principal's ARN when it is not the IAM user of its name.
    public var principalArn: String?
    /// The principals file does not allow the operation: the engine lets it through only if a grant on the key
    /// names this caller as grantee for the operation (else AccessDeniedException).
    public var needsGrant: Bool
    /// The access key the request was signed with (recorded in the event's `userIdentity`).
    public var accessKeyId: String?
    /// Set by the engine for a call it records: what the handler learned about the key it touched.
    var trail: EventTrail?

    public init(account: String, region: String, principalName: String, requestId: String? = nil,
                principalArn: String? = nil, needsGrant: Bool = false, accessKeyId: String? = nil) {
        self.account = account
        self.region = region
        self.principalName = principalName
        self.requestId = requestId
        self.principalArn = principalArn
        self.needsGrant = needsGrant
        self.accessKeyId = accessKeyId
    }

    /// The IAM-style ARN used in AccessDenied messages, grants and recorded events.
    public var arn: String { principalArn ?? "arn:aws:iam::\(account):user/\(principalName)" }
}

/// The seam between the HTTP front and the engine: a request's target (`TrentService.CreateKey`,
/// `CksAdmin.AdvanceClock`) and its raw JSON body in, the JSON response body out.
/// Every AWS error is thrown as `KMSError`; the front turns it into `{"__type","message"}`.
/// The front has already authenticated and authorized the caller and capped the body size.
public protocol KMSRequestHandling: Sendable {
    func handle(target: String, body: Data, caller: Caller) async throws -> Data
    /// The same request with the body the front already parsed (a JSON object), so it is not parsed twice.
    func handle(target: String, parsed: JSONValue, body: Data, caller: Caller) async throws -> Data
    /// A call the front refused before the engine saw it (AccessDeniedException): recorded if it touched a key.
    func recordRefusal(target: String, parsed: JSONValue, caller: Caller, error: KMSError) async
}

extension KMSRequestHandling {
    public func handle(target: String, parsed: JSONValue, body: Data, caller: Caller) async throws -> Data {
        try await handle(target: target, body: body, caller: caller)
    }

    public func recordRefusal(target: String, parsed: JSONValue, caller: Caller, error: KMSError) async {}
}
