import CKSClient
import CKSServer
import Foundation

/// Hands the client's signed requests to an embedded core's front in this process, skipping the sockets:
/// the same SigV4 verification, authorization, engine and error bodies as over HTTP (the front is what the HTTP
/// adaptor calls), without the loopback round trip. Used to seed `--demo`'s estate, whose hundreds of calls over
/// loopback HTTP would cost seconds of CPU in a debug build; the console itself keeps talking HTTP.
public struct InProcessTransport: KMSTransport {
    public let front: KMSFront

    public init(front: KMSFront) { self.front = front }

    public init(core: EmbeddedCore) { self.init(front: core.server.front) }

    public func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        let requestId = UUID().uuidString.lowercased()
        let path = request.url.path.isEmpty ? "/" : request.url.path
        let answer = await front.handle(method: request.method, path: path, query: request.url.query ?? "",
                                        headers: request.headers, body: request.body, requestId: requestId)
        var headers = ["x-amzn-RequestId": requestId, "Content-Type": "application/x-amz-json-1.1"]
        for (name, value) in answer.headers { headers[name] = value }
        return TransportResponse(status: answer.status, headers: headers, body: answer.body)
    }
}
