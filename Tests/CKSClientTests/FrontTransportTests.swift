import CKSDomain
import CKSServer
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSClient

/// A handler that records what reached it and answers from a closure: the client over the real HTTP front
/// (URLSession ↔ Hummingbird, SigV4 verified by the front) without depending on the engine.
final class RecordingHandler: KMSRequestHandling {
    private let seen = Mutex<[(String, Data, Caller)]>([])
    let answer: @Sendable (String, Data) throws -> Data

    init(answer: @escaping @Sendable (String, Data) throws -> Data) { self.answer = answer }

    var targets: [String] { seen.withLock { $0.map(\.0) } }
    var callers: [Caller] { seen.withLock { $0.map(\.2) } }

    func handle(target: String, body: Data, caller: Caller) async throws -> Data {
        seen.withLock { $0.append((target, body, caller)) }
        return try answer(target, body)
    }
}

/// The two HTTP stacks the client can use; every front test runs over both.
enum TransportKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case urlSession, nio
    func make() -> any KMSTransport {
        switch self {
        case .urlSession: URLSessionTransport()
        case .nio: NIOTransport()
        }
    }
    var testDescription: String { rawValue }
}

@Suite(.serialized) struct FrontTransportTests {
    static func withFront(_ kind: TransportKind, _ answer: @escaping @Sendable (String, Data) throws -> Data,
                          _ body: (CoreServer, KMSClient, RecordingHandler) async throws -> Void) async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("cks-front-\(UUID().uuidString)")
        var configuration = CoreConfiguration(dataDirectory: directory)
        configuration.port = 0
        let handler = RecordingHandler(answer: answer)
        let server = try await CoreServer.start(configuration, handler: handler)
        let admin = server.adminPrincipal
        let client = KMSClient(endpoint: server.endpoint, region: "eu-west-3",
                               credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey),
                               transport: kind.make())
        do { try await body(server, client, handler) } catch {
            client.shutdown()
            await server.shutdown()
            try? FileManager.default.removeItem(at: directory)
            throw error
        }
        client.shutdown()
        await server.shutdown()
        try? FileManager.default.removeItem(at: directory)
    }

    @Test(arguments: TransportKind.allCases) func signedCallsReachTheHandlerAndDecode(_ kind: TransportKind) async throws {
        try await Self.withFront(kind, { target, _ in
            switch target {
            case "TrentService.ListKeys":
                return Data(#"{"Keys":[{"KeyId":"k1","KeyArn":"arn:aws:kms:eu-west-3:111122223333:key/k1"}],"Truncated":false}"#.utf8)
            default:
                return Data("{}".utf8)
            }
        }) { server, client, handler in
            let page = try await client.listKeys(limit: 5)
            #expect(page.keys?.first?.keyId == "k1")
            #expect(page.truncated == false)
            try await client.enableKey(keyId: "k1")   // an operation with no output: `{}` decodes
            #expect(handler.targets == ["TrentService.ListKeys", "TrentService.EnableKey"])
            #expect(handler.callers.first?.region == "eu-west-3")   // the region of the credential scope
            // Many calls on the pooled keep-alive connections, concurrently.
            let results = await client.bulk((0..<200).map(String.init), concurrency: 16) {
                (id: String) throws(KMSClientError) in try await client.enableKey(keyId: id)
            }
            #expect(results.allSatisfy { $0.error == nil })
        }
    }

    @Test(arguments: TransportKind.allCases) func handlerErrorsArriveTyped(_ kind: TransportKind) async throws {
        try await Self.withFront(kind, { target, _ in
            if target.hasSuffix("DescribeKey") { throw KMSError(.notFound, "Key 'arn:x' does not exist") }
            throw KMSError(.kmsInternal, "boom")
        }) { _, client, handler in
            do throws(KMSClientError) {
                _ = try await client.describeKey(keyId: "x")
                Issue.record("expected NotFoundException")
            } catch {
                #expect(error.code == .notFound)
                #expect(error.message == "Key 'arn:x' does not exist")
                #expect(error.httpStatus == 400)
                #expect(error.requestId?.isEmpty == false)
            }
            // 500 on an idempotent call: retried (4 attempts by default), then reported.
            do throws(KMSClientError) {
                _ = try await client.listKeys()
                Issue.record("expected KMSInternalException")
            } catch {
                #expect(error.code == .kmsInternal)
                #expect(error.httpStatus == 500)
            }
            #expect(handler.targets.filter { $0 == "TrentService.ListKeys" }.count == 4)
            // 500 on CreateKey: sent once, never again.
            do throws(KMSClientError) {
                _ = try await client.createKey()
                Issue.record("expected KMSInternalException")
            } catch {
                #expect(error.code == .kmsInternal)
            }
            #expect(handler.targets.filter { $0 == "TrentService.CreateKey" }.count == 1)
        }
    }

    @Test(arguments: TransportKind.allCases) func frontRejectsBadSignaturesAndUnknownKeys(_ kind: TransportKind) async throws {
        try await Self.withFront(kind, { _, _ in Data("{}".utf8) }) { server, _, handler in
            let admin = server.adminPrincipal
            let wrongSecret = KMSClient(endpoint: server.endpoint, region: "us-east-1",
                                        credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: "nope"))
            do throws(KMSClientError) {
                _ = try await wrongSecret.listKeys()
                Issue.record("expected InvalidSignatureException")
            } catch {
                #expect(error.code == .invalidSignature)
                #expect(ScriptedStatusProbe.isAuthFailure(error))
            }
            let unknown = KMSClient(endpoint: server.endpoint, region: "us-east-1",
                                    credentials: AWSCredentials(accessKeyId: "AKIDNOBODY", secretAccessKey: "x"))
            do throws(KMSClientError) {
                _ = try await unknown.listKeys()
                Issue.record("expected UnrecognizedClientException")
            } catch {
                #expect(error.code == .unrecognizedClient)
            }
            // A clock 10 minutes off: the front answers with AWS's skew wording.
            let skewed = KMSClient(endpoint: server.endpoint, region: "us-east-1",
                                   credentials: AWSCredentials(accessKeyId: admin.accessKeyId, secretAccessKey: admin.secretAccessKey),
                                   now: { Date().addingTimeInterval(-600) })
            do throws(KMSClientError) {
                _ = try await skewed.listKeys()
                Issue.record("expected a skew error")
            } catch {
                #expect(error.code == .invalidSignature)
                #expect(error.message.hasPrefix("Signature expired: "))
            }
            #expect(handler.targets.isEmpty)
        }
    }

    /// Cancelling calls at random moments, some while their answers are being delivered, never wedges a call.
    /// (URLSession.data(for:) deadlocks in that race on Linux; the transport must not.) A wedged call never returns,
    /// which the time limit catches; it is generous because on a loaded 2-core machine the 150 URLSession calls can
    /// take over a minute.
    @Test(.timeLimit(.minutes(5)), arguments: TransportKind.allCases) func cancellationRacingCompletionNeverHangs(_ kind: TransportKind) async throws {
        try await Self.withFront(kind, { _, _ in Data(#"{"Keys":[],"Truncated":false}"#.utf8) }) { _, client, _ in
            for round in 0..<150 {
                let call = Task { try await client.listKeys() }
                try await Task.sleep(for: .microseconds(Int64(round % 15) * 200))
                call.cancel()
                _ = await call.result   // success or cancelled; what matters is that it returns
            }
            #expect(try await client.listKeys().truncated == false)   // the client is still usable
        }
    }

    @Test(arguments: TransportKind.allCases) func closedPortIsCannotReachEndpoint(_ kind: TransportKind) async throws {
        var endpoint: URL?
        try await Self.withFront(kind, { _, _ in Data("{}".utf8) }) { server, _, _ in endpoint = server.endpoint }
        let client = KMSClient(endpoint: try #require(endpoint), region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: "a", secretAccessKey: "b"),
                               transport: kind.make(), retryPolicy: RetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(1)))
        do throws(KMSClientError) {
            _ = try await client.createKey()
            Issue.record("expected a connection failure")
        } catch {
            #expect(error.kind == .cannotReachEndpoint)
            #expect(!error.requestMayHaveReachedServer)
            #expect(error.message.contains(endpoint!.absoluteString))
        }
    }
}

/// Auth failures as scripts see them (exit status 3 in the verbs).
enum ScriptedStatusProbe {
    static func isAuthFailure(_ e: KMSClientError) -> Bool {
        [KMSErrorCode.accessDenied, .unrecognizedClient, .invalidSignature, .incompleteSignature,
         .missingAuthenticationToken].contains(e.code ?? .validation)
    }
}
