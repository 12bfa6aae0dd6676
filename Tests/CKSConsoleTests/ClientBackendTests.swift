import CKSClient
import CKSDomain
@testable import CKSTeardown
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSConsole

/// A transport that answers from a table of canned JSON bodies by target, as the core would.
final class CannedTransport: KMSTransport {
    let answers: [String: (Int, String)]
    let seen = Mutex<[String]>([])
    init(_ answers: [String: (Int, String)]) { self.answers = answers }
    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        let target = request.header("X-Amz-Target") ?? ""
        seen.withLock { $0.append(target) }
        let body = String(data: request.body, encoding: .utf8) ?? ""
        let key = answers.keys.first { target + " " + body == $0 } ?? target
        guard let (status, json) = answers[key] else {
            return TransportResponse(status: 400, headers: ["x-amzn-RequestId": "r-unknown"],
                                     body: Data("{\"__type\":\"UnknownOperationException\",\"message\":\"\"}".utf8))
        }
        return TransportResponse(status: status, headers: ["x-amzn-RequestId": "r-\(target.split(separator: ".").last ?? "")"], body: Data(json.utf8))
    }
}

@Suite("KMS client backend")
struct ClientBackendTests {
    @Test("the Activity pane names what each call is about, read from the request body")
    func activitySubjects() {
        func subject(_ json: String) -> String { ObservingTransport.subject(of: Data(json.utf8)) }
        #expect(subject(#"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","PendingWindowInDays":7}"#) == "1234abcd-12ab-34cd-56ef-1234567890ab")
        #expect(subject(#"{"Limit":100,"CustomKeyStoreId":"cks-1234567890abcdef0"}"#) == "cks-1234567890abcdef0")
        #expect(subject(#"{"CustomKeyStoreName":"pay\"ments\\hsm"}"#) == #"pay"ments\hsm"#)
        #expect(subject(#"{"AliasName":"alias/café"}"#) == "alias/café")
        #expect(subject(#"{"Limit":1000,"Marker":"eyJrIjoiMTIzNDU2Nzg5MCJ9"}"#) == "next page (eyJrIjoi)")
        #expect(subject("{}") == "*")
        #expect(subject(#"{"KeyId":"unterminated"#) == "*")
        #expect(subject("not json") == "-")
        #expect(subject("") == "-")
    }

    static let store = #"{"CustomKeyStores":[{"CustomKeyStoreId":"cks-1234567890abcdef0","CustomKeyStoreName":"pay","CustomKeyStoreType":"AWS_CLOUDHSM","CloudHsmClusterId":"cluster-234567abcdefg","ConnectionState":"FAILED","ConnectionErrorCode":"NETWORK_ERRORS","CreationDate":1700000000}],"Truncated":false}"#
    static let keys = #"{"Keys":[{"KeyId":"k1"},{"KeyId":"k2"}],"Truncated":false}"#
    static let k1 = #"{"KeyMetadata":{"KeyId":"k1","Arn":"arn:aws:kms:us-east-1:111122223333:key/k1","KeyState":"PendingDeletion","Enabled":false,"CreationDate":1700000000,"DeletionDate":1800000000,"Origin":"AWS_CLOUDHSM","CustomKeyStoreId":"cks-1234567890abcdef0"}}"#
    static let k2 = #"{"KeyMetadata":{"KeyId":"k2","KeyState":"Enabled","Enabled":true,"CreationDate":1700000000,"Origin":"AWS_KMS"}}"#

    func backend(_ inbox: ActivityInbox, _ extra: [String: (Int, String)] = [:]) -> KMSClientBackend {
        var answers: [String: (Int, String)] = [
            "TrentService.DescribeCustomKeyStores": (200, Self.store),
            "CksAdmin.DescribeCloudHsmClusters": (200, #"{"Clusters":[{"ClusterId":"cluster-234567abcdefg","HsmCount":3}]}"#),
            "TrentService.ListKeys": (200, Self.keys),
            "TrentService.ListAliases": (200, #"{"Aliases":[{"AliasName":"alias/pay","TargetKeyId":"k1"}],"Truncated":false}"#),
            #"TrentService.DescribeKey {"KeyId":"k1"}"#: (200, Self.k1),
            #"TrentService.DescribeKey {"KeyId":"k2"}"#: (200, Self.k2),
        ]
        answers.merge(extra) { $1 }
        let transport = ObservingTransport(wrapping: CannedTransport(answers), recorder: inbox.recorder)
        let client = KMSClient(endpoint: URL(string: "http://127.0.0.1:9")!, region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret"), transport: transport)
        return KMSClientBackend(client: client, info: EndpointInfo(endpoint: "http://127.0.0.1:9", account: "111122223333",
                                                                   region: "us-east-1", principal: "admin", mode: .remote))
    }

    @Test("stores, keys of a store with aliases, census; every exchange recorded under its action")
    func mapping() async throws {
        let inbox = ActivityInbox()
        let b = backend(inbox)
        let tag = ActionTag(id: 7, label: "open")
        let stores = try await ActionTag.$current.withValue(tag) { try await b.listStores() }
        #expect(stores.count == 1)
        #expect(stores[0].stateText == "FAILED (NETWORK_ERRORS)")
        #expect(stores[0].hsmCount == 3)
        var got: [KeyRecord] = []
        for try await k in b.keys(inStore: "cks-1234567890abcdef0") { got.append(k) }
        #expect(got.map(\.id) == ["k1"])
        #expect(got[0].aliases == ["alias/pay"] && got[0].state == .pendingDeletion && got[0].deletionDate != nil)
        let census = try await b.keyCensus()
        #expect(census["cks-1234567890abcdef0"] == KeyCensus(total: 1, pendingDeletion: 1))
        let events = inbox.drain()
        let first = try #require(events.first)
        #expect(first.operation == "DescribeCustomKeyStores" && first.action == tag && first.requestId == "r-DescribeCustomKeyStores")
        #expect(events.contains { $0.operation == "DescribeKey" && $0.target == "k2" })
        #expect(try await b.coreTime() == nil, "no GetClock: the console counts down on the wall clock")
    }

    @Test("an unreachable core is a core failure; a refused call is not")
    func failures() async {
        let inbox = ActivityInbox()
        let refused = backend(inbox, ["TrentService.ConnectCustomKeyStore": (400, #"{"__type":"CustomKeyStoreInvalidStateException","message":"FAILED"}"#)])
        do { try await refused.connectStore("cks-1234567890abcdef0"); Issue.record("no error") } catch {
            #expect(!BackendError.isCoreFailure(error))
            #expect(BackendError.describe(error).0 == "CustomKeyStoreInvalidStateException")
        }
        let client = KMSClient(endpoint: URL(string: "http://127.0.0.1:9")!, region: "us-east-1",
                               credentials: AWSCredentials(accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret"),
                               retryPolicy: RetryPolicy(maxAttempts: 1))
        let gone = KMSClientBackend(client: client, info: EndpointInfo(endpoint: "", account: "", region: "", principal: "", mode: .remote))
        do { _ = try await gone.listStores(); Issue.record("no error") } catch {
            #expect(BackendError.isCoreFailure(error))
        }
    }
}
