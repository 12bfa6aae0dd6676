import CKSDomain
import CKSTestSupport
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSClient

/// A transport that answers from a script and records what it was sent.
final class ScriptedTransport: KMSTransport {
    enum Step: Sendable {
        case respond(status: Int, body: String, headers: [String: String] = [:])
        case fail(KMSClientError.Kind)
        case hang
    }

    private let state: Mutex<(steps: [Step], sent: [TransportRequest])>
    /// What ends a `.hang`: the test, never cancellation.
    let hangRelease = Gate()

    init(_ steps: [Step]) { state = Mutex((steps, [])) }

    var sent: [TransportRequest] { state.withLock { $0.sent } }

    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        let step: Step = state.withLock { s in
            s.sent.append(request)
            return s.steps.isEmpty ? .respond(status: 200, body: "{}") : s.steps.removeFirst()
        }
        switch step {
        case let .respond(status, body, headers):
            var all = headers
            all["x-amzn-RequestId"] = all["x-amzn-RequestId"] ?? "req-\(sent.count)"
            return TransportResponse(status: status, headers: all, body: Data(body.utf8))
        case let .fail(kind):
            throw KMSClientError(kind: kind, message: "scripted \(kind)", endpoint: request.url)
        case .hang:
            // Ignores cancellation on purpose: the client's deadline must not wait for it.
            await hangRelease.wait()
            return TransportResponse(status: 200, body: Data("{}".utf8))
        }
    }
}

/// Records backoff waits instead of sleeping.
final class SleepRecorder: Sendable {
    private let waits = Mutex<[Duration]>([])
    var recorded: [Duration] { waits.withLock { $0 } }
    func sleep(_ d: Duration) async throws { waits.withLock { $0.append(d) } }
}

private func makeClient(_ transport: ScriptedTransport, _ sleeper: SleepRecorder, attempts: Int = 4,
                        timeout: TimeInterval = 30) -> KMSClient {
    KMSClient(endpoint: URL(string: "http://127.0.0.1:7911")!, region: "us-east-1",
              credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret"),
              transport: transport, retryPolicy: RetryPolicy(maxAttempts: attempts), defaultTimeout: timeout,
              now: { Date(timeIntervalSince1970: 1_800_000_000) }, sleep: { try await sleeper.sleep($0) },
              random: { 0.5 })
}

private func call(_ client: KMSClient, _ target: String, idempotent: Bool) async -> Result<ResponseMetadata, KMSClientError> {
    do {
        let (_, meta) = try await client.sendRaw(target: target, body: Data("{}".utf8), idempotent: idempotent)
        return .success(meta)
    } catch {
        return .failure(error)
    }
}

@Suite struct ErrorDecodingTests {
    @Test func knownTypeWithLowercaseMessage() {
        let e = KMSClientError.decode(status: 400, headers: ["x-amzn-requestid": "abc"],
                                      body: Data(#"{"__type":"NotFoundException","message":"Key 'x' does not exist"}"#.utf8))
        #expect(e.kind == .service(.notFound))
        #expect(e.code == .notFound)
        #expect(e.message == "Key 'x' does not exist")
        #expect(e.requestId == "abc")
        #expect(e.httpStatus == 400)
        #expect(e.typeName == "NotFoundException")
        #expect(e.isServiceError)
    }

    @Test func capitalMessageAndNamespacedType() {
        let e = KMSClientError.decode(status: 400, headers: [:],
                                      body: Data(#"{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"User: x is not authorized"}"#.utf8))
        #expect(e.code == .accessDenied)
        #expect(e.message == "User: x is not authorized")
        let colon = KMSClientError.decode(status: 400, headers: [:],
                                          body: Data(#"{"__type":"ValidationException:http://internal.amazon.com/coral/","message":"m"}"#.utf8))
        #expect(colon.code == .validation)
    }

    @Test func unknownTypeIsKeptVerbatim() {
        let e = KMSClientError.decode(status: 400, headers: [:], body: Data(#"{"__type":"BrandNewException","message":"new"}"#.utf8))
        #expect(e.kind == .unknownService("BrandNewException"))
        #expect(e.code == nil)
        #expect(e.typeName == "BrandNewException")
        #expect(e.isServiceError)
    }

    @Test func typeFromHeaderWhenBodyHasNone() {
        let e = KMSClientError.decode(status: 400, headers: ["x-amzn-errortype": "ThrottlingException:extra"], body: Data())
        #expect(e.code == .throttling)
    }

    @Test func everyKnownCodeRoundTrips() {
        for code in KMSErrorCode.allCases {
            let e = KMSClientError.decode(status: code.httpStatus, headers: [:],
                                          body: Data(#"{"__type":"\#(code.rawValue)","message":"m"}"#.utf8))
            #expect(e.code == code)
        }
    }

    @Test func garbageBodies() {
        for body in ["", "not json", "[1,2]", #"{"message":"no type"}"#, "\u{FF}\u{FE}"] {
            let e = KMSClientError.decode(status: 502, headers: [:], body: Data(body.utf8))
            #expect(e.kind == .invalidResponse)
            #expect(e.httpStatus == 502)
        }
    }
}

@Suite struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 4)
    func err(_ kind: KMSClientError.Kind, _ status: Int? = nil) -> KMSClientError {
        KMSClientError(kind: kind, message: "", httpStatus: status)
    }

    @Test func classification() {
        // Never for 4xx.
        for code in [KMSErrorCode.notFound, .kmsInvalidState, .accessDenied, .validation, .customKeyStoreHasCMKs] {
            #expect(!RetryPolicy.isRetryable(err(.service(code), 400), idempotent: true))
        }
        #expect(!RetryPolicy.isRetryable(err(.unknownService("X"), 400), idempotent: true))
        // 5xx: only when the call may be repeated.
        #expect(RetryPolicy.isRetryable(err(.service(.kmsInternal), 500), idempotent: true))
        #expect(!RetryPolicy.isRetryable(err(.service(.kmsInternal), 500), idempotent: false))
        #expect(RetryPolicy.isRetryable(err(.invalidResponse, 503), idempotent: true))
        #expect(!RetryPolicy.isRetryable(err(.invalidResponse, 200), idempotent: true))
        // Throttling and refused connections: always (nothing happened on the server).
        #expect(RetryPolicy.isRetryable(err(.service(.throttling), 400), idempotent: false))
        #expect(RetryPolicy.isRetryable(err(.cannotReachEndpoint), idempotent: false))
        // Resets and timeouts: the request may have arrived.
        #expect(RetryPolicy.isRetryable(err(.connectionLost), idempotent: true))
        #expect(!RetryPolicy.isRetryable(err(.connectionLost), idempotent: false))
        #expect(!RetryPolicy.isRetryable(err(.timedOut), idempotent: false))
        #expect(!RetryPolicy.isRetryable(err(.cancelled), idempotent: true))
        #expect(!policy.shouldRetry(err(.cannotReachEndpoint), idempotent: true, attempt: 4))
    }

    @Test func backoffGrowsAndIsCapped() {
        let p = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(p.backoffCeiling(retry: 1) == .milliseconds(100))
        #expect(p.backoffCeiling(retry: 2) == .milliseconds(200))
        #expect(p.backoffCeiling(retry: 4) == .milliseconds(800))
        #expect(p.backoffCeiling(retry: 5) == .seconds(1))
        #expect(p.backoffCeiling(retry: 60) == .seconds(1))
        #expect(p.delay(retry: 3, unit: 0) == .zero)
        #expect(p.delay(retry: 3, unit: 0.5) == .milliseconds(200))
    }

    @Test func idempotentCallRetries5xxThenSucceeds() async throws {
        let t = ScriptedTransport([.respond(status: 500, body: #"{"__type":"KMSInternalException","message":"boom"}"#),
                                  .fail(.connectionLost), .respond(status: 200, body: "{}")])
        let s = SleepRecorder()
        let meta = try await call(makeClient(t, s), "TrentService.DescribeKey", idempotent: true).get()
        #expect(meta.attempts == 3)
        #expect(t.sent.count == 3)
        #expect(s.recorded == [.milliseconds(50), .milliseconds(100)])   // full jitter with unit 0.5
        // Each attempt is signed afresh and carries the same body.
        #expect(t.sent.allSatisfy { $0.header("Authorization")?.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/") == true })
    }

    @Test func nonIdempotentCallIsNotResentAfter5xxOrReset() async {
        for step in [ScriptedTransport.Step.respond(status: 500, body: #"{"__type":"KMSInternalException","message":"x"}"#),
                     .fail(.connectionLost), .fail(.timedOut)] {
            let t = ScriptedTransport([step])
            let result = await call(makeClient(t, SleepRecorder()), "TrentService.CreateKey", idempotent: false)
            #expect(throws: KMSClientError.self) { try result.get() }
            #expect(t.sent.count == 1)
        }
    }

    @Test func nonIdempotentCallRetriesWhenNothingArrived() async throws {
        let t = ScriptedTransport([.fail(.cannotReachEndpoint),
                                  .respond(status: 400, body: #"{"__type":"ThrottlingException","message":"Rate exceeded"}"#),
                                  .respond(status: 200, body: "{}")])
        let meta = try await call(makeClient(t, SleepRecorder()), "TrentService.CreateKey", idempotent: false).get()
        #expect(meta.attempts == 3)
    }

    @Test func clientErrorsAreNeverRetried() async {
        let t = ScriptedTransport([.respond(status: 400, body: #"{"__type":"NotFoundException","message":"nope"}"#)])
        let s = SleepRecorder()
        let result = await call(makeClient(t, s), "TrentService.DescribeKey", idempotent: true)
        guard case .failure(let e) = result else { Issue.record("expected failure"); return }
        #expect(e.code == .notFound)
        #expect(e.message == "nope")
        #expect(e.requestId == "req-1")
        #expect(t.sent.count == 1)
        #expect(s.recorded.isEmpty)
    }

    @Test func givesUpAfterMaxAttempts() async {
        let t = ScriptedTransport(Array(repeating: .fail(.cannotReachEndpoint), count: 10))
        let result = await call(makeClient(t, SleepRecorder(), attempts: 3), "TrentService.ListKeys", idempotent: true)
        guard case .failure(let e) = result else { Issue.record("expected failure"); return }
        #expect(e.kind == .cannotReachEndpoint)
        #expect(t.sent.count == 3)
    }

    @Test func perCallTimeoutDoesNotWaitForTheTransport() async {
        let t = ScriptedTransport([.hang])
        defer { t.hangRelease.open() }
        // Judged by order, not by duration: the transport hangs until released, so a call that waited for it
        // would only return once this safety release (minutes later) let the transport answer first.
        let safety = Task {
            try? await Task.sleep(for: .seconds(600))
            t.hangRelease.open()
        }
        defer { safety.cancel() }
        let client = makeClient(t, SleepRecorder(), attempts: 1, timeout: 0.2)
        let result = await call(client, "TrentService.CreateKey", idempotent: false)
        #expect(!t.hangRelease.isOpen, "the call returned only when the transport did")
        guard case .failure(let e) = result else { Issue.record("expected failure"); return }
        #expect(e.kind == .timedOut)
    }

    @Test func requestIsSignedLikeBotocore() throws {
        let client = makeClient(ScriptedTransport([]), SleepRecorder())
        let request = client.signedRequest(target: "TrentService.ListKeys", body: Data("{}".utf8))
        #expect(request.header("Host") == "127.0.0.1:7911")
        #expect(request.header("Content-Type") == "application/x-amz-json-1.1")
        #expect(request.header("X-Amz-Target") == "TrentService.ListKeys")
        #expect(request.header("X-Amz-Date") == "20270115T080000Z")
        let auth = try SigV4Authorization.parse(request.header("Authorization"))
        #expect(auth.signedHeaders == ["content-type", "host", "x-amz-date", "x-amz-target"])
        try SigV4Verifier.verify(auth, method: "POST", path: "/", query: "", headers: request.headers, body: request.body,
                                 secretAccessKey: "secret", now: Date(timeIntervalSince1970: 1_800_000_000))
    }

    @Test func hostHeaderFollowsBotocore() {
        #expect(KMSClient.hostHeader(for: URL(string: "http://LOCALHOST:80/")!) == "localhost")
        #expect(KMSClient.hostHeader(for: URL(string: "https://kms.example.com:443")!) == "kms.example.com")
        #expect(KMSClient.hostHeader(for: URL(string: "http://127.0.0.1:7911")!) == "127.0.0.1:7911")
        #expect(KMSClient.hostHeader(for: URL(string: "http://[::1]:7911")!) == "[::1]:7911")
    }
}
