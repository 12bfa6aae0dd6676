import CKSDomain
import CKSWire
import Foundation
import Synchronization
import Testing
@testable import CKSClient

/// A tiny in-memory KMS behind the transport seam: ListKeys (Limit/Marker), DescribeKey, ScheduleKeyDeletion.
/// It measures how many calls are in flight at once, to check the client's concurrency bounds.
final class FakeKMS: KMSTransport {
    struct Key: Sendable { var id: String; var store: String?; var state: String }
    private struct State {
        var keys: [Key]
        var inFlight = 0
        var maxInFlight = 0
        var calls: [String: Int] = [:]
        var repeatMarker = false
    }
    private let state: Mutex<State>
    let delay: Duration

    init(keys: [Key], delay: Duration = .milliseconds(2), repeatMarker: Bool = false) {
        var s = State(keys: keys)
        s.repeatMarker = repeatMarker
        state = Mutex(s)
        self.delay = delay
    }

    var maxInFlight: Int { state.withLock { $0.maxInFlight } }
    func calls(_ op: String) -> Int { state.withLock { $0.calls[op] ?? 0 } }

    func send(_ request: TransportRequest, timeout: TimeInterval) async throws -> TransportResponse {
        let target = request.header("X-Amz-Target") ?? ""
        let op = String(target.split(separator: ".").last ?? "")
        state.withLock { s in
            s.inFlight += 1
            s.maxInFlight = max(s.maxInFlight, s.inFlight)
            s.calls[op, default: 0] += 1
        }
        defer { state.withLock { $0.inFlight -= 1 } }
        try await Task.sleep(for: delay)
        let body = (try? JSONSerialization.jsonObject(with: request.body)) as? [String: Any] ?? [:]
        switch op {
        case "ListKeys":
            let limit = body["Limit"] as? Int ?? 100
            let start = (body["Marker"] as? String).flatMap(Int.init) ?? 0
            let (page, total, repeatMarker) = state.withLock { s in
                (Array(s.keys.dropFirst(start).prefix(limit)), s.keys.count, s.repeatMarker)
            }
            let next = start + page.count
            var out: [String: Any] = ["Keys": page.map { ["KeyId": $0.id, "KeyArn": "arn:aws:kms:us-east-1:111122223333:key/\($0.id)"] },
                                      "Truncated": next < total]
            if next < total { out["NextMarker"] = repeatMarker ? "0" : String(next) }
            return json(out)
        case "DescribeKey":
            let id = body["KeyId"] as? String ?? ""
            guard let key = state.withLock({ s in s.keys.first { $0.id == id } }) else {
                return error("NotFoundException", "Key '\(id)' does not exist")
            }
            var metadata: [String: Any] = ["KeyId": key.id, "KeyState": key.state, "CreationDate": 1_700_000_000.5,
                                           "Enabled": key.state == "Enabled"]
            if let store = key.store { metadata["CustomKeyStoreId"] = store; metadata["Origin"] = "AWS_CLOUDHSM" }
            return json(["KeyMetadata": metadata])
        case "ScheduleKeyDeletion":
            let id = body["KeyId"] as? String ?? ""
            let outcome: String? = state.withLock { s in
                guard let i = s.keys.firstIndex(where: { $0.id == id }) else { return "NotFoundException" }
                if s.keys[i].state == "PendingDeletion" { return "KMSInvalidStateException" }
                s.keys[i].state = "PendingDeletion"
                return nil
            }
            if let outcome { return error(outcome, "\(outcome) for \(id)") }
            return json(["KeyId": id, "KeyState": "PendingDeletion", "DeletionDate": 1_700_604_800, "PendingWindowInDays": 7])
        default:
            return error("UnknownOperationException", "")
        }
    }

    private func json(_ object: [String: Any]) -> TransportResponse {
        TransportResponse(status: 200, body: try! JSONSerialization.data(withJSONObject: object))
    }

    private func error(_ type: String, _ message: String) -> TransportResponse {
        TransportResponse(status: 400, body: try! JSONSerialization.data(withJSONObject: ["__type": type, "message": message]))
    }
}

private func client(_ fake: FakeKMS) -> KMSClient {
    KMSClient(endpoint: URL(string: "http://127.0.0.1:1")!, region: "us-east-1",
              credentials: AWSCredentials(accessKeyId: "AKID", secretAccessKey: "s"), transport: fake)
}

private func keys(_ count: Int, store: (Int) -> String?) -> [FakeKMS.Key] {
    (0..<count).map { FakeKMS.Key(id: String(format: "key-%05d", $0), store: store($0), state: "Enabled") }
}

@Suite struct FakeKMSTests {
    @Test func pagesFollowMarkersUntilNotTruncated() async throws {
        let fake = FakeKMS(keys: keys(250) { _ in nil }, delay: .zero)
        var sizes: [Int] = []
        for try await page in client(fake).listKeysPages(limit: 100) { sizes.append(page.keys?.count ?? 0) }
        #expect(sizes == [100, 100, 50])
        #expect(try await client(fake).allKeys(pageSize: 7).count == 250)
    }

    @Test func repeatedMarkerEndsTheSequenceWithAnError() async {
        let fake = FakeKMS(keys: keys(10) { _ in nil }, delay: .zero, repeatMarker: true)
        var pages = 0
        do {
            for try await _ in client(fake).listKeysPages(limit: 3) { pages += 1 }
            Issue.record("expected an error")
        } catch {
            #expect(error.kind == .invalidResponse)
        }
        #expect(pages == 1)   // the second answer repeats marker "0": caught before it is yielded
    }

    @Test func keysInStoreStreamsOnlyThatStoreWithBoundedConcurrency() async throws {
        let fake = FakeKMS(keys: keys(300) { $0 % 3 == 0 ? "cks-aaaaaaaaaaaaaaaaa" : ($0 % 3 == 1 ? "cks-bbbbbbbbbbbbbbbbb" : nil) })
        var found: [String] = []
        for try await key in client(fake).keys(inStore: "cks-aaaaaaaaaaaaaaaaa", concurrency: 5, pageSize: 64) {
            #expect(key.customKeyStoreId == "cks-aaaaaaaaaaaaaaaaa")
            found.append(key.keyId)
        }
        #expect(found.count == 100)
        #expect(Set(found).count == 100)
        #expect(fake.calls("DescribeKey") == 300)
        #expect(fake.calls("ListKeys") == 5)
        #expect(fake.maxInFlight <= 6)   // 5 DescribeKey + the ListKeys of the next page
        #expect(fake.maxInFlight >= 2)   // it does overlap calls
    }

    @Test func keysInStoreDeliversBeforeTheLastDescribe() async throws {
        let fake = FakeKMS(keys: keys(200) { _ in "cks-aaaaaaaaaaaaaaaaa" }, delay: .milliseconds(5))
        var iterator = client(fake).keys(inStore: "cks-aaaaaaaaaaaaaaaaa", concurrency: 4).makeAsyncIterator()
        _ = try await iterator.next()
        // The first key arrived while most DescribeKey calls had not been made yet: results stream.
        #expect(fake.calls("DescribeKey") < 200)
    }

    @Test func bulkReportsEachItemInInputOrder() async throws {
        let fake = FakeKMS(keys: keys(20) { _ in nil })
        let c = client(fake)
        _ = try await c.scheduleKeyDeletion(keyId: "key-00003", pendingWindowInDays: 7)
        let ids = (0..<20).map { String(format: "key-%05d", $0) } + ["missing-key"]
        let progress = Mutex(0)
        let results = await c.scheduleKeyDeletion(keyIds: ids, pendingWindowInDays: 7, concurrency: 3) { _ in
            progress.withLock { $0 += 1 }
        }
        #expect(results.map(\.id) == ids)
        #expect(progress.withLock { $0 } == ids.count)
        #expect(results.filter { $0.value != nil }.count == 19)
        #expect(results[3].error?.code == .kmsInvalidState)
        #expect(results[20].error?.code == .notFound)
        #expect(results[0].value?.keyState == .pendingDeletion)
        #expect(fake.maxInFlight <= 3)
    }

    /// 20,000 items through the bulk call: the shape it had before trapped in release builds at ~10,000 items.
    /// Run this suite with `swift test -c release --filter bulkOfManyItems` to cover the optimised build too.
    @Test func bulkOfManyItemsCompletesEveryItem() async throws {
        let fake = FakeKMS(keys: [])
        let ids = (0..<20_000).map { "key-\($0)" }
        let progress = Mutex(0)
        let results = await client(fake).bulk(ids, concurrency: 16, onResult: { _ in progress.withLock { $0 += 1 } }) {
            (id: String) throws(KMSClientError) -> Int in
            guard let n = Int(id.dropFirst(4)) else { throw KMSClientError(kind: .invalidResponse, message: id) }
            if n % 1_000 == 7 { throw KMSClientError(kind: .service(.notFound), message: "gone: \(id)") }
            await Task.yield()
            return n
        }
        #expect(results.map(\.id) == ids)
        #expect(progress.withLock { $0 } == ids.count)
        #expect(results.compactMap(\.value).count == 20_000 - 20)
        #expect(results[7].error?.code == .notFound)
        #expect(results[19_999].value == 19_999)
    }
}
