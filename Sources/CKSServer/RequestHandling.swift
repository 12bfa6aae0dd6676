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

    public init(account: String, region: String, principalName: String, requestId: String? = nil) {
        self.account = account
        self.region = region
        self.principalName = principalName
        self.requestId = requestId
    }

    /// The IAM-style ARN used in AccessDenied messages.
    public var arn: String { "arn:aws:iam::\(account):user/\(principalName)" }
}

/// The seam between the HTTP front and the engine: a request's target (`TrentService.CreateKey`,
/// `CksAdmin.AdvanceClock`) and its raw JSON body in, the JSON response body out.
/// Every AWS error is thrown as `KMSError`; the front turns it into `{"__type","message"}`.
/// The front has already authenticated and authorized the caller and capped the body size.
public protocol KMSRequestHandling: Sendable {
    func handle(target: String, body: Data, caller: Caller) async throws -> Data
    /// The same request with the body the front already parsed (a JSON object), so it is not parsed twice.
    func handle(target: String, parsed: JSONValue, body: Data, caller: Caller) async throws -> Data
}

extension KMSRequestHandling {
    public func handle(target: String, parsed: JSONValue, body: Data, caller: Caller) async throws -> Data {
        try await handle(target: target, body: body, caller: caller)
    }
}
