import CKSDomain
import CKSWire
import Foundation

extension KMSClient {
    /// Sends a typed request and decodes its response.
    public func send<R: WireRequest>(_ request: R, timeout: TimeInterval? = nil) async throws(KMSClientError) -> R.Response {
        try await sendWithMetadata(request, timeout: timeout).0
    }

    /// As `send`, also returning the request id and the number of attempts.
    public func sendWithMetadata<R: WireRequest>(_ request: R, timeout: TimeInterval? = nil)
        async throws(KMSClientError) -> (R.Response, ResponseMetadata) {
        let body: Data
        do { body = try WireCodec.encodeRequest(request) } catch {
            throw KMSClientError(kind: .invalidResponse, message: "Could not encode \(R.target): \(error)", endpoint: endpoint)
        }
        let (response, metadata) = try await sendRaw(target: R.target, body: body,
                                                     idempotent: Self.idempotentTargets.contains(R.target), timeout: timeout)
        do {
            return (try WireCodec.decodeResponse(R.Response.self, from: response.body), metadata)
        } catch {
            throw KMSClientError(kind: .invalidResponse, message: error.message, requestId: metadata.requestId,
                                 httpStatus: response.status, endpoint: endpoint)
        }
    }

}
