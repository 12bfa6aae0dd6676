import CKSDomain
import CKSWire
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Hummingbird's side of the front: reads the head, refuses oversized bodies before and while streaming them
/// (never buffering more than the limit plus one chunk), and writes every answer with `x-amzn-RequestId`
/// and the JSON 1.1 content type.
struct HTTPAdaptor: HTTPResponder {
    typealias Context = BasicRequestContext
    let front: KMSFront

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let requestId = UUID().uuidString.lowercased()
        let method = request.method.rawValue
        let path = request.uri.path
        let contentLength = request.headers[.contentLength].flatMap { Int($0) }

        if let early = front.checkHead(method: method, path: path, contentType: request.headers[.contentType],
                                       contentLength: contentLength) {
            return Self.response(early, requestId: requestId)
        }
        let body: Data
        do {
            let buffer = try await request.body.collect(upTo: front.maxBodyBytes)
            body = Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            return Self.response(front.tooLarge(), requestId: requestId)
        } catch {
            // The client went away mid-body; nothing useful can be sent, but answer anyway.
            return Self.response(.error(KMSError(.serialization, "The request body could not be read.")), requestId: requestId)
        }

        // A body cut short (the client went away, or the connection guard closed a dribbling client) ends the
        // stream as if complete: never hand a truncated body, possibly still valid JSON, to the engine.
        if let contentLength, body.count != contentLength {
            var answer = FrontResponse.error(KMSError(.serialization,
                "The request body ended after \(body.count) of its \(contentLength) bytes."))
            answer.headers.append(("Connection", "close"))
            return Self.response(answer, requestId: requestId)
        }

        var headers: [(String, String)] = request.headers.map { ($0.name.canonicalName, $0.value) }
        // swift-http-types moves Host into the authority; SigV4 signs it as `host`.
        if let authority = request.head.authority, !headers.contains(where: { $0.0 == "host" }) {
            headers.append(("host", authority))
        }
        let answer = await front.handle(method: method, path: path, query: request.uri.query ?? "", headers: headers,
                                        body: body, requestId: requestId)
        return Self.response(answer, requestId: requestId)
    }

    static let requestIdField = HTTPField.Name("x-amzn-RequestId")!

    static func response(_ answer: FrontResponse, requestId: String) -> Response {
        var fields = HTTPFields()
        fields[.contentType] = WireCodec.contentType
        fields[Self.requestIdField] = requestId
        for (name, value) in answer.headers {
            if let fieldName = HTTPField.Name(name) { fields[fieldName] = value }
        }
        return Response(status: HTTPResponse.Status(code: answer.status), headers: fields,
                        body: ResponseBody(byteBuffer: ByteBuffer(bytes: answer.body)))
    }
}
