import CKSDomain
import CKSWire
import Foundation
import Testing
@testable import CKSClient

/// The client against a third-party KMS implementation: moto's standalone server (moto ships on this machine's
/// Python; `.ci/run` installs it when missing). moto routes unsigned requests to S3, so every call here is signed.
@Suite(.serialized) struct MotoTests {
    /// Starts `moto_server -H 127.0.0.1 -p 0`, reads the port it chose, and returns a client for it.
    static func startMoto() async throws -> (ManagedProcess, KMSClient) {
        let executable = try ExternalTool.require("moto_server")
        let moto = try ManagedProcess(executable, ["-H", "127.0.0.1", "-p", "0"])
        do {
            let port: Int = try await moto.waitFor(timeout: .seconds(60)) { output in
                guard let range = output.range(of: #"Running on http://127\.0\.0\.1:(\d+)"#, options: .regularExpression) else {
                    return nil
                }
                return Int(output[range].split(separator: ":").last ?? "")
            }
            let client = KMSClient(endpoint: URL(string: "http://127.0.0.1:\(port)")!, region: "us-east-1",
                                   credentials: AWSCredentials(accessKeyId: "testing", secretAccessKey: "testing"),
                                   retryPolicy: RetryPolicy(maxAttempts: 3))
            return (moto, client)
        } catch {
            await moto.stop()
            throw error
        }
    }

    /// Runs `body` against a fresh moto and stops it afterwards; a failure records moto's last output.
    static func withMoto(_ body: (KMSClient) async throws -> Void) async throws {
        let (moto, client) = try await startMoto()
        do {
            try await body(client)
        } catch {
            await moto.stop()
            Issue.record("moto output:\n\(moto.capturedOutput.suffix(2000))")
            throw error
        }
        await moto.stop()
        #expect(!moto.process.isRunning)
    }

    @Test(.enabled(if: ExternalTool.shouldRun("moto_server"), ExternalTool.skipNote("moto_server")))
    func keyOperationsAgainstMoto() async throws {
        try await Self.withMoto(exercise)
    }

    private func exercise(_ client: KMSClient) async throws {
        // CreateKey ×3, DescribeKey.
        var created: [String] = []
        for i in 0..<3 {
            let response = try await client.createKey(CreateKeyRequest(description: "cks moto test \(i)"))
            let metadata = try #require(response.keyMetadata)
            #expect(metadata.keyState == .enabled)
            created.append(metadata.keyId)
        }
        let described = try await client.describeKey(keyId: created[0])
        #expect(described.keyId == created[0])
        #expect(described.description == "cks moto test 0")
        #expect(described.arn?.hasPrefix("arn:aws:kms:us-east-1:") == true)

        // ListKeys, through the paginator with a page size that forces several pages.
        var pages = 0
        var listed: [String] = []
        for try await page in client.listKeysPages(limit: 2) {
            pages += 1
            listed += (page.keys ?? []).compactMap(\.keyId)
        }
        #expect(Set(created).isSubset(of: Set(listed)))
        #expect(listed.count == Set(listed).count)   // no key twice across pages
        #expect(pages >= 1)   // moto ignores Limit and answers one untruncated page; the core's paging is tested elsewhere

        // ScheduleKeyDeletion (bulk, one bad id for a per-item failure), then CancelKeyDeletion.
        let bogus = "00000000-0000-0000-0000-000000000000"
        let results = await client.scheduleKeyDeletion(keyIds: [created[0], bogus, created[1]], pendingWindowInDays: 7,
                                                       concurrency: 2)
        #expect(results.map(\.id) == [created[0], bogus, created[1]])
        #expect(results[0].error == nil)   // (moto's answer has no KeyState member)
        #expect(results[0].value?.deletionDate != nil)
        #expect(results[1].error?.code == .notFound)
        #expect(results[2].value?.keyId?.hasSuffix(created[1]) == true)
        #expect(try await client.describeKey(keyId: created[0]).keyState == .pendingDeletion)

        try await client.cancelKeyDeletion(keyId: created[0])
        let cancelled = try await client.describeKey(keyId: created[0])
        #expect(cancelled.keyState == .disabled)   // AWS: a cancelled key comes back Disabled
        #expect(cancelled.deletionDate == nil)

        // An error from moto is typed by its __type like ours.
        do {
            _ = try await client.describeKey(keyId: bogus)
            Issue.record("DescribeKey of a missing key succeeded")
        } catch {
            #expect(error.code == .notFound)
            #expect(error.isServiceError)
        }
    }
}
