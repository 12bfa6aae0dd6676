import CKSDomain
import CKSServer
import CKSWire
import CKSTestSupport
import Foundation
import Testing

/// The HTTP front against a real socket: method/path/content type, body limit, request ids, JSON errors,
/// SigV4 authentication, IAM-style authorization and the Caller handed to the engine.
@Suite struct ProtocolTests {
    private func withCore(_ handler: FakeHandler = FakeHandler(), maxBodyBytes: Int = 1 << 20,
                          _ body: (FrontHarness, FakeHandler) async throws -> Void) async throws {
        let core = try await FrontHarness.start(handler: handler, maxBodyBytes: maxBodyBytes)
        do {
            try await body(core, handler)
        } catch {
            await core.stop()
            throw error
        }
        await core.stop()
    }

    private func isRequestId(_ value: String?) -> Bool {
        guard let value else { return false }
        return UUID(uuidString: value) != nil && value == value.lowercased()
    }

    @Test func signedCallReachesTheEngineWithTheCaller() async throws {
        try await withCore { core, handler in
            let response = try await core.call("TrentService.DescribeCustomKeyStores", region: "eu-west-2")
            #expect(response.status == 200)
            #expect(response.header("Content-Type") == "application/x-amz-json-1.1")
            #expect(isRequestId(response.header("x-amzn-RequestId")))
            #expect(response.json["Region"] as? String == "eu-west-2")
            let call = try #require(handler.calls.first)
            #expect(call.caller.account == "111122223333")
            #expect(call.caller.region == "eu-west-2")
            #expect(call.caller.principalName == "admin")
            // The engine learns the request id the client will see.
            #expect(call.caller.requestId == response.header("x-amzn-RequestId"))
            #expect(call.target == "TrentService.DescribeCustomKeyStores")
        }
    }

    @Test func everyResponseHasItsOwnRequestId() async throws {
        try await withCore { core, _ in
            let ok = try await core.call("TrentService.ListKeys")
            let error = try await core.call("TrentService.Nope")
            let refused = try await core.send(FrontHarness.raw(method: "GET", path: "/", headers: [("Host", "x")], body: Data()))
            let ids = [ok, error, refused].map { $0.header("x-amzn-RequestId") }
            #expect(ids.allSatisfy(isRequestId))
            #expect(Set(ids.compactMap { $0 }).count == 3)
        }
    }

    @Test func onlyPostSlashWithJSONIsServed() async throws {
        try await withCore { core, handler in
            let get = try await core.send(FrontHarness.raw(method: "GET", path: "/", headers: [("Host", "x")], body: Data()))
            #expect(get.status == 405)
            #expect(get.errorType == "UnknownOperationException")
            #expect(get.header("Allow") == "POST")
            let path = try await core.send(FrontHarness.raw(method: "POST", path: "/keys",
                headers: [("Host", "x"), ("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", "2")],
                body: Data("{}".utf8)))
            #expect(path.status == 404)
            #expect(path.errorType == "UnknownOperationException")
            let text = try await core.send(core.signedRequest(target: "TrentService.ListKeys", body: "{}",
                                                              contentType: "text/plain"))
            #expect(text.status == 415)
            #expect(text.errorType == "SerializationException")
            #expect(text.header("Content-Type") == "application/x-amz-json-1.1")
            // Any content type mentioning json is accepted, as AWS and local-kms do.
            let plainJSON = try await core.send(core.signedRequest(target: "TrentService.ListKeys", body: "{}",
                                                                   contentType: "application/json"))
            #expect(plainJSON.status == 200)
            #expect(handler.calls.count == 1)
        }
    }

    @Test func declaredOversizedBodyIsRefusedBeforeItIsSent() async throws {
        try await withCore { core, handler in
            let port = core.port
            let response = try await onThread {
                let connection = try RawConnection(port: port)
                // Only the head: the server must answer without waiting for the 2 MB it announced.
                connection.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                                + "X-Amz-Target: TrentService.ListKeys\r\nContent-Length: 2000000\r\n\r\n")
                return try connection.response()
            }
            #expect(response.status == 413)
            #expect(response.errorType == "RequestEntityTooLargeException")
            #expect(isRequestId(response.header("x-amzn-RequestId")))
            #expect(handler.calls.isEmpty)
        }
    }

    @Test func streamedOversizedBodyIsCutOff() async throws {
        try await withCore(maxBodyBytes: 4096) { core, handler in
            let port = core.port
            let response = try await onThread {
                let connection = try RawConnection(port: port)
                connection.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-amz-json-1.1\r\n"
                                + "X-Amz-Target: TrentService.ListKeys\r\nTransfer-Encoding: chunked\r\n\r\n")
                let chunk = String(repeating: " ", count: 1024)
                for _ in 0..<8 { connection.send(String(1024, radix: 16) + "\r\n" + chunk + "\r\n") }
                return try connection.response()
            }
            #expect(response.status == 413)
            #expect(response.errorType == "RequestEntityTooLargeException")
            #expect(handler.calls.isEmpty)
        }
    }

    @Test func bodyAtTheLimitIsAccepted() async throws {
        try await withCore(maxBodyBytes: 4096) { core, _ in
            let padding = String(repeating: " ", count: 4096 - 2)
            let response = try await core.call("TrentService.ListKeys", "{" + padding + "}")
            #expect(response.status == 200)
        }
    }

    @Test func badJSONAndUnknownTargets() async throws {
        try await withCore { core, handler in
            let bad = try await core.call("TrentService.ListKeys", "{\"Limit\":")
            #expect(bad.status == 400)
            #expect(bad.errorType == "SerializationException")
            let array = try await core.call("TrentService.ListKeys", "[1]")
            #expect(array.errorType == "SerializationException")
            let unknown = try await core.call("TrentService.RotateKeyOnDemand", #"{"KeyId":"k"}"#)
            #expect(unknown.status == 400)
            #expect(unknown.errorType == "UnknownOperationException")
            #expect(unknown.json.count == 1) // {"__type":"UnknownOperationException"} as AWS sends it
            let missing = try await core.send(FrontHarness.raw(method: "POST", path: "/",
                headers: [("Host", "x"), ("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", "2")],
                body: Data("{}".utf8)))
            #expect(missing.errorType == "UnknownOperationException")
            #expect(handler.calls.isEmpty)
        }
    }

    @Test func wrongTypesAndValidationTextReachTheClient() async throws {
        try await withCore { core, _ in
            let type = try await core.call("TrentService.DescribeKey", #"{"KeyId":{"a":1}}"#)
            #expect(type.status == 400)
            #expect(type.errorType == "SerializationException")
            #expect(type.message == "Start of structure or map found where not expected.")
            let name = String(repeating: "n", count: 257)
            let validation = try await core.call("TrentService.CreateCustomKeyStore", "{\"CustomKeyStoreName\":\"\(name)\"}")
            #expect(validation.status == 400)
            #expect(validation.errorType == "ValidationException")
            #expect(validation.message == "1 validation error detected: Value '\(name)' at 'customKeyStoreName' "
                    + "failed to satisfy constraint: Member must have length less than or equal to 256")
        }
    }

    @Test func engineErrorsKeepTheirTypeAndStatus() async throws {
        let handler = FakeHandler { target, _, _ in
            switch target {
            case "TrentService.DeleteCustomKeyStore":
                throw KMSError(.customKeyStoreHasCMKs, "Cannot delete the custom key store because it contains KMS keys.")
            case "TrentService.Encrypt": throw KMSError(.keyUnavailable, "unavailable")
            default: throw CocoaError(.fileNoSuchFile) // anything not a KMSError
            }
        }
        try await withCore(handler) { core, _ in
            let hasKeys = try await core.call("TrentService.DeleteCustomKeyStore", #"{"CustomKeyStoreId":"cks-1"}"#)
            #expect(hasKeys.status == 400)
            #expect(hasKeys.errorType == "CustomKeyStoreHasCMKsException")
            #expect(hasKeys.message == "Cannot delete the custom key store because it contains KMS keys.")
            let unavailable = try await core.call("TrentService.Encrypt", #"{"KeyId":"k","Plaintext":"aGk="}"#)
            #expect(unavailable.status == 500)
            let crash = try await core.call("TrentService.ListKeys")
            #expect(crash.status == 500)
            #expect(crash.errorType == "KMSInternalException")
            #expect(crash.message?.contains("fileNoSuchFile") == false)
        }
    }

    @Test func missingAndMalformedAuthorization() async throws {
        try await withCore { core, handler in
            let head = [("Host", "127.0.0.1:\(core.port)"), ("Content-Type", "application/x-amz-json-1.1"),
                        ("X-Amz-Target", "TrentService.ListKeys"), ("Content-Length", "2")]
            let none = try await core.send(FrontHarness.raw(method: "POST", path: "/", headers: head, body: Data("{}".utf8)))
            #expect(none.status == 400)
            #expect(none.errorType == "MissingAuthenticationTokenException")
            let garbage = try await core.send(FrontHarness.raw(method: "POST", path: "/",
                headers: head + [("Authorization", "AWS4-HMAC-SHA256 garbage"), ("X-Amz-Date", "20260101T000000Z")],
                body: Data("{}".utf8)))
            #expect(garbage.status == 400)
            #expect(garbage.errorType == "IncompleteSignatureException")
            #expect(handler.calls.isEmpty)
        }
    }

    @Test func unknownKeyBadSignatureAndSkew() async throws {
        try await withCore { core, handler in
            let stranger = Principal(name: "x", account: "999999999999", accessKeyId: "AKIAUNKNOWNUNKNOWN00",
                                     secretAccessKey: "s", allow: [])
            let unknown = try await core.call("TrentService.ListKeys", principal: stranger)
            #expect(unknown.errorType == "UnrecognizedClientException")
            #expect(unknown.message == "The security token included in the request is invalid.")

            let wrongSecret = try await core.send(core.signedRequest(target: "TrentService.ListKeys", body: "{}",
                                                                     secret: "not-the-secret"))
            #expect(wrongSecret.errorType == "InvalidSignatureException")
            #expect(wrongSecret.message?.hasPrefix("The request signature we calculated does not match") == true)

            let old = try await core.send(core.signedRequest(target: "TrentService.ListKeys", body: "{}",
                                                             date: Date().addingTimeInterval(-600)))
            #expect(old.errorType == "InvalidSignatureException")
            #expect(old.message?.hasPrefix("Signature expired:") == true)

            // A body changed after signing no longer matches.
            var tampered = core.signedRequest(target: "TrentService.ListKeys", body: #"{"Limit":1}"#)
            let index = try #require(tampered.lastIndex(of: UInt8(ascii: "1")))
            tampered[index] = UInt8(ascii: "2")
            let changed = try await core.send(tampered)
            #expect(changed.errorType == "InvalidSignatureException")
            #expect(handler.calls.isEmpty)
        }
    }

    @Test func actionsOutsideAllowAreDeniedAndNothingReachesTheEngine() async throws {
        try await withCore { core, handler in
            let denied = try await core.call("TrentService.DeleteCustomKeyStore", #"{"CustomKeyStoreId":"cks-1234567890abcdef0"}"#,
                                             principal: TestPrincipals.reader, region: "eu-west-1")
            #expect(denied.status == 400)
            #expect(denied.errorType == "AccessDeniedException")
            #expect(denied.message == "User: arn:aws:iam::444455556666:user/reader is not authorized to perform: "
                    + "kms:DeleteCustomKeyStore on resource: * because no identity-based policy allows the "
                    + "kms:DeleteCustomKeyStore action")
            let key = try await core.call("TrentService.ScheduleKeyDeletion", #"{"KeyId":"1234abcd-12ab-34cd-56ef-1234567890ab"}"#,
                                          principal: TestPrincipals.reader, region: "eu-west-1")
            #expect(key.message?.contains("kms:ScheduleKeyDeletion on resource: "
                    + "arn:aws:kms:eu-west-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab") == true)
            let admin = try await core.call("CksAdmin.AdvanceClock", #"{"Seconds":60}"#, principal: TestPrincipals.reader)
            #expect(admin.errorType == "AccessDeniedException")
            #expect(admin.message?.contains("cks:AdvanceClock") == true)
            #expect(handler.calls.isEmpty)

            // What the patterns allow goes through, in the reader's own account.
            let describe = try await core.call("TrentService.DescribeCustomKeyStores", principal: TestPrincipals.reader)
            #expect(describe.status == 200)
            #expect(handler.calls.map(\.caller.account) == ["444455556666"])
        }
    }

    @Test func keepAliveServesSeveralRequestsOnOneConnection() async throws {
        try await withCore { core, handler in
            let first = core.signedRequest(target: "TrentService.ListKeys", body: "{}")
            let second = core.signedRequest(target: "TrentService.DescribeCustomKeyStores", body: "{}")
            let port = core.port
            let statuses = try await onThread {
                let connection = try RawConnection(port: port)
                connection.send(first)
                let a = try connection.response()
                connection.send(second)
                let b = try connection.response()
                return [a.status, b.status]
            }
            #expect(statuses == [200, 200])
            #expect(handler.calls.map(\.target) == ["TrentService.ListKeys", "TrentService.DescribeCustomKeyStores"])
        }
    }
}
