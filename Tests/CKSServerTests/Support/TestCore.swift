import CKSDomain
import CKSServer
import CKSTestSupport
import CKSWire
import Foundation
import Synchronization

/// The principals the protocol tests use: an admin, a read-only user in another account.
enum TestPrincipals {
    static let admin = Principal(name: "admin", account: "111122223333", accessKeyId: "AKIAADMINADMINADMIN1",
                                 secretAccessKey: "adminSecretKeyadminSecretKeyadminSecret1", allow: ["kms:*", "cks:*"])
    static let reader = Principal(name: "reader", account: "444455556666", accessKeyId: "AKIAREADERREADERREA2",
                                  secretAccessKey: "readerSecretKeyreaderSecretKeyreaderSec2",
                                  allow: ["kms:Describe*", "kms:List*"])

    /// Writes the principals file with the given mode.
    static func write(to url: URL, principals: [Principal] = [admin, reader], mode: Int = 0o600) throws {
        struct File: Encodable { var principals: [Principal] }
        try JSONEncoder().encode(File(principals: principals)).write(to: url)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
    }
}

/// A KMSRequestHandling that records calls and answers as the test says; by default it validates the body
/// against the operation's schema, as the engine does, and echoes the caller.
final class FakeHandler: KMSRequestHandling, Sendable {
    struct Call: Sendable { var target: String; var caller: Caller; var body: Data }
    private let state = Mutex<[Call]>([])
    let behaviour: @Sendable (String, Data, Caller) async throws -> Data

    init(_ behaviour: @escaping @Sendable (String, Data, Caller) async throws -> Data = FakeHandler.validateAndEcho) {
        self.behaviour = behaviour
    }

    var calls: [Call] { state.withLock { $0 } }

    func handle(target: String, body: Data, caller: Caller) async throws -> Data {
        state.withLock { $0.append(Call(target: target, caller: caller, body: body)) }
        return try await behaviour(target, body, caller)
    }

    @Sendable static func validateAndEcho(target: String, body: Data, caller: Caller) throws -> Data {
        guard let operation = WireOperation.lookup(target: target) else { throw KMSError(.unknownOperation, "") }
        try WireCodec.validate(body, against: operation.requestSchema)
        let echo = ["Target": target, "Account": caller.account, "Region": caller.region, "Principal": caller.principalName]
        return try JSONSerialization.data(withJSONObject: echo)
    }
}

/// A core on a free port in front of `handler`, with the test principals.
struct FrontHarness: Sendable {
    let server: CoreServer
    let directory: TemporaryDirectory
    var port: Int { server.port }

    static func start(handler: any KMSRequestHandling = FakeHandler(), maxBodyBytes: Int = 1 << 20,
                      onClose: @escaping @Sendable () async -> Void = {}) async throws -> FrontHarness {
        let directory = try TemporaryDirectory(prefix: "cks-tests")
        let principalsFile = directory.url.appendingPathComponent("principals.json")
        try TestPrincipals.write(to: principalsFile)
        var configuration = CoreConfiguration(dataDirectory: directory.url.appendingPathComponent("data"))
        configuration.port = 0
        configuration.principalsFile = principalsFile
        configuration.maxBodyBytes = maxBodyBytes
        let server = try await CoreServer.start(configuration, handler: handler, onClose: onClose)
        return FrontHarness(server: server, directory: directory)
    }

    func stop() async {
        await server.shutdown()
        directory.remove()
    }

    /// A signed `POST /` request as raw HTTP text, signed the way botocore signs.
    func signedRequest(target: String, body: String, principal: Principal = TestPrincipals.admin,
                       region: String = "us-east-1", date: Date = Date(), secret: String? = nil,
                       contentType: String = "application/x-amz-json-1.1", extraHeaders: [(String, String)] = []) -> [UInt8] {
        let host = "127.0.0.1:\(port)"
        let bodyData = Data(body.utf8)
        var headers: [(String, String)] = [("Host", host), ("Content-Type", contentType), ("X-Amz-Target", target)]
        let credentials = AWSCredentials(accessKeyId: principal.accessKeyId,
                                         secretAccessKey: secret ?? principal.secretAccessKey)
        headers += SigV4.sign(method: "POST", path: "/", query: "", headers: headers, body: bodyData,
                              credentials: credentials, region: region, service: "kms", date: date)
        headers += extraHeaders
        headers.append(("Content-Length", String(bodyData.count)))
        return FrontHarness.raw(method: "POST", path: "/", headers: headers, body: bodyData)
    }

    static func raw(method: String, path: String, headers: [(String, String)], body: Data) -> [UInt8] {
        var text = "\(method) \(path) HTTP/1.1\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        text += "\r\n"
        return Array(text.utf8) + [UInt8](body)
    }

    /// Sends one request on a new connection and reads the answer.
    func send(_ request: [UInt8]) async throws -> RawResponse {
        let port = self.port
        return try await onThread {
            let connection = try RawConnection(port: port)
            connection.send(request)
            return try connection.response()
        }
    }

    func call(_ target: String, _ body: String = "{}", principal: Principal = TestPrincipals.admin,
              region: String = "us-east-1") async throws -> RawResponse {
        try await send(signedRequest(target: target, body: body, principal: principal, region: region))
    }
}
