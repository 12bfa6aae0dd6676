import CKSDomain
import CKSWire
import Foundation
import Logging

/// The protocol front of the core, independent of the HTTP library: method, path, content type, target,
/// SigV4 authentication, IAM-style authorization, then the engine. Every outcome is a `FrontResponse`, errors as
/// `{"__type","message"}` with `KMSErrorCode.httpStatus`.
///
/// Order of checks, as AWS's front end does them (kinesalite, recorded against AWS): method and path, content
/// type, body size, JSON syntax (`SerializationException`), target (`UnknownOperationException`), then
/// authentication and authorization, and only then the engine (which type-checks and validates the members).
public struct KMSFront: Sendable {
    public let handler: any KMSRequestHandling
    public let principals: PrincipalDirectory
    public let maxBodyBytes: Int
    /// Allowed clock skew of SigV4 signatures against the wall clock.
    public var maxSkew: TimeInterval = 300
    var logger: Logger

    public init(handler: any KMSRequestHandling, principals: PrincipalDirectory, maxBodyBytes: Int = 1 << 20,
                logger: Logger = Logger(label: "cks.http")) {
        self.handler = handler
        self.principals = principals
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// Checks that can be made on the head alone, before any body byte is read. nil = go on.
    public func checkHead(method: String, path: String, contentType: String?, contentLength: Int?) -> FrontResponse? {
        guard path == "/" else {
            return .error(KMSError(.unknownOperation, "Unknown path \(path): the KMS API is POST /"), status: 404)
        }
        guard method == "POST" else {
            var response = FrontResponse.error(KMSError(.unknownOperation, "Method \(method) is not supported: the KMS API is POST /"),
                                               status: 405)
            response.headers.append(("Allow", "POST"))
            return response
        }
        guard let contentType, contentType.lowercased().contains("json") else {
            return .error(KMSError(.serialization,
                                   "Content-Type must be \(WireCodec.contentType) (got \(contentType.map { "'\($0)'" } ?? "none"))"),
                          status: 415)
        }
        if let contentLength, contentLength > maxBodyBytes { return tooLarge() }
        return nil
    }

    /// The answer to a body over `maxBodyBytes`; the connection is closed after it.
    public func tooLarge() -> FrontResponse {
        var response = FrontResponse.error(KMSError(.requestEntityTooLarge,
            "Request body exceeds the maximum size of \(maxBodyBytes) bytes"))
        response.headers.append(("Connection", "close"))
        return response
    }

    /// Handles a request whose head passed `checkHead` and whose body was read (within the limit).
    /// `headers` are lower- or mixed-case names with values, including `host`. `requestId` (the
    /// `x-amzn-RequestId` the answer will carry) is handed to the engine in the `Caller`.
    public func handle(method: String, path: String, query: String, headers: [(String, String)], body: Data,
                       requestId: String? = nil, now: Date = Date()) async -> FrontResponse {
        if let early = checkHead(method: method, path: path, contentType: header("content-type", in: headers),
                                 contentLength: body.count) {
            return early
        }
        let parsed: JSONValue
        do { parsed = try WireCodec.parseBody(body) } catch { return .error(error) }

        guard let target = header("x-amz-target", in: headers), let operation = WireOperation.lookup(target: target) else {
            return .error(KMSError(.unknownOperation, ""))
        }

        let principal: Principal
        let region: String
        do {
            (principal, region) = try authenticate(method: method, path: path, query: query, headers: headers,
                                                   body: body, service: WireOperation.signingName(for: target), now: now)
        } catch {
            logger.debug("request refused", metadata: ["target": "\(target)", "error": "\(error.code.rawValue)"])
            return .error(error)
        }

        let allowed = principal.isAllowed(operation.iamAction) || CksAdmin.unrestrictedTargets.contains(operation.target)
        // An operation a grant can allow goes on to the engine, which looks for a grant on the key.
        let needsGrant = !allowed && GrantAuthorization.grantable.contains(operation.target)
        guard allowed || needsGrant else {
            let resource = Self.resource(for: operation, body: parsed, region: region, account: principal.account)
            logger.debug("access denied", metadata: ["principal": "\(principal.name)", "action": "\(operation.iamAction)"])
            let error = GrantAuthorization.denied(arn: principal.arn, action: operation.iamAction, resource: resource)
            await handler.recordRefusal(target: target, parsed: parsed, caller: Caller(
                account: principal.account, region: region, principalName: principal.name, requestId: requestId,
                principalArn: principal.principalArn, accessKeyId: principal.accessKeyId), error: error)
            return .error(error)
        }

        let caller = Caller(account: principal.account, region: region, principalName: principal.name,
                            requestId: requestId, principalArn: principal.principalArn, needsGrant: needsGrant,
                            accessKeyId: principal.accessKeyId)
        do {
            let output = try await handler.handle(target: target, parsed: parsed, body: body, caller: caller)
            return FrontResponse(status: 200, body: output)
        } catch let error as KMSError {
            if error.code.httpStatus >= 500 { logServiceFault(error, target: target, requestId: requestId) }
            return .error(error)
        } catch {
            // Never echo an internal error's text: it might carry request data.
            let fault = KMSError(.kmsInternal, "An internal error occurred.", cause: "\(type(of: error))")
            logServiceFault(fault, target: target, requestId: requestId)
            return .error(fault)
        }
    }

    /// Every 5xx leaves a line with its cause: the operation, the request id the client saw, the error and why
    /// (never the request's body, nor a secret: causes are SQLite's messages and the core's own descriptions; a
    /// 5xx the rules decide, such as KeyUnavailableException, gives the message the client got).
    func logServiceFault(_ error: KMSError, target: String, requestId: String?) {
        logger.error("request failed with \(error.code.httpStatus) \(error.code.rawValue)", metadata: [
            "target": "\(target)", "requestId": "\(requestId ?? "-")", "cause": "\(error.cause ?? error.message)",
        ])
    }

    /// Verifies SigV4 and resolves the principal; the region comes from the credential scope.
    func authenticate(method: String, path: String, query: String, headers: [(String, String)], body: Data,
                      service: String = "kms", now: Date) throws(KMSError) -> (Principal, String) {
        do {
            let authorization = try SigV4Authorization.parse(header("authorization", in: headers))
            guard let principal = principals.principal(accessKeyId: authorization.accessKeyId) else {
                throw KMSError(.unrecognizedClient, "The security token included in the request is invalid.")
            }
            try SigV4Verifier.verify(authorization, method: method, path: path, query: query, headers: headers,
                                     body: body, secretAccessKey: principal.secretAccessKey, expectedService: service,
                                     now: now, maxSkew: maxSkew)
            return (principal, authorization.region)
        } catch let error as KMSError {
            throw error
        } catch {
            throw KMSError(.incompleteSignature, "The request signature could not be read.")
        }
    }

    /// The resource named in AccessDenied: the key (or alias) ARN when the request names one, else `*`.
    static func resource(for operation: WireOperation, body: JSONValue, region: String, account: String) -> String {
        func arn(_ id: String) -> String {
            if id.hasPrefix("arn:") { return id }
            if id.hasPrefix("alias/") { return "arn:aws:kms:\(region):\(account):\(id)" }
            return "arn:aws:kms:\(region):\(account):key/\(id)"
        }
        for member in ["AliasName", "KeyId", "TargetKeyId"] {
            if case let .string(id)? = body[member], !id.isEmpty,
               operation.requestSchema.members.contains(where: { $0.name == member }) {
                return arn(id)
            }
        }
        return "*"
    }

    /// The first value of header `name` (given in lower case), compared without allocating a lowered copy of
    /// every header name on every lookup (the core's hot path).
    func header(_ name: String, in headers: [(String, String)]) -> String? {
        headers.first { SigV4.equalsIgnoringASCIICase($0.0, lowercased: name) }?.1
    }
}

/// What the front answers: status, extra headers and body. Every response also gets `x-amzn-RequestId` and the
/// JSON content type from the HTTP adaptor.
public struct FrontResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)] = []
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// `{"__type","message"}` with the code's status (or `status` where HTTP itself decides, 404/405/415).
    public static func error(_ error: KMSError, status: Int? = nil) -> FrontResponse {
        FrontResponse(status: status ?? error.code.httpStatus, body: WireCodec.encodeError(error))
    }
}
