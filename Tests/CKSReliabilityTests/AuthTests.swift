import CKSClient
import CKSWire
import Foundation
import GRDB
import Testing

/// Everything the core holds, read from its SQLite file (read-only): any change shows as a different snapshot.
func databaseSnapshot(_ url: URL) throws -> [String] {
    var configuration = Configuration()
    configuration.readonly = true
    configuration.busyMode = .timeout(10)
    let queue = try DatabaseQueue(path: url.path, configuration: configuration)
    defer { try? queue.close() }
    return try queue.read { db in
        var rows: [String] = []
        for table in ["store", "kms_key", "alias", "cluster", "xks_proxy", "orphaned_material", "grant_entry", "key_tag",
                      "workload"] {
            for row in try Row.fetchAll(db, sql: "SELECT * FROM \(table) ORDER BY 1") { rows.append("\(table): \(row)") }
        }
        return rows
    }
}

extension Reliability {
    /// Authentication and authorization: every bad signature, unknown or malformed credential, missing permission
    /// and other account's resource is refused with the right error, and nothing changes.
    @Suite struct Authentication {
        static let admin = TestPrincipal(name: "rel-admin", account: "111122223333", accessKeyId: "AKIARELADMIN00000001",
                                         secretAccessKey: "relAdminSecret/0000000000000000000000000001", allow: ["kms:*", "cks:*"])
        static let other = TestPrincipal(name: "rel-other", account: "444455556666", accessKeyId: "AKIARELOTHER00000002",
                                         secretAccessKey: "relOtherSecret/0000000000000000000000000002", allow: ["kms:*", "cks:*"])

        /// One principal per action, allowed every other action of the API but that one.
        static func withoutAction(_ operation: WireOperation, index: Int) -> TestPrincipal {
            let allow = WireOperation.all.values.map(\.iamAction).filter { $0 != operation.iamAction }.sorted()
            return TestPrincipal(name: "rel-no-\(operation.name)", account: admin.account,
                                 accessKeyId: String(format: "AKIARELDENY%09d", index),
                                 secretAccessKey: "relDenySecret/\(String(format: "%030d", index))", allow: allow)
        }

        /// The estate the denied requests aim at, each request one that would succeed (and change something) if allowed.
        struct Estate {
            var connected: String, disconnected: String, freeCluster: String, trustAnchor: String
            var key: String, pendingKey: String, disabledKey: String, ciphertext: String, grantId: String

            func body(for operation: WireOperation) -> String {
                switch operation.name {
                case "CreateCustomKeyStore":
                    return #"{"CustomKeyStoreName":"denied","CloudHsmClusterId":"\#(freeCluster)","TrustAnchorCertificate":\#(String(decoding: FuzzJSON.quote(trustAnchor), as: UTF8.self)),"KeyStorePassword":"\#(Fixtures.kmsUserPassword)"}"#
                case "ConnectCustomKeyStore", "DeleteCustomKeyStore": return #"{"CustomKeyStoreId":"\#(disconnected)"}"#
                case "DisconnectCustomKeyStore": return #"{"CustomKeyStoreId":"\#(connected)"}"#
                case "UpdateCustomKeyStore": return #"{"CustomKeyStoreId":"\#(disconnected)","NewCustomKeyStoreName":"renamed"}"#
                case "CreateKey": return "{}"
                case "ScheduleKeyDeletion": return #"{"KeyId":"\#(key)","PendingWindowInDays":7}"#
                case "CancelKeyDeletion": return #"{"KeyId":"\#(pendingKey)"}"#
                case "EnableKey": return #"{"KeyId":"\#(disabledKey)"}"#
                case "CreateAlias": return #"{"AliasName":"alias/denied","TargetKeyId":"\#(key)"}"#
                case "DeleteAlias": return #"{"AliasName":"alias/existing"}"#
                case "Encrypt": return #"{"KeyId":"\#(key)","Plaintext":"aGVsbG8="}"#
                case "Decrypt": return #"{"CiphertextBlob":"\#(ciphertext)"}"#
                case "GenerateDataKey": return #"{"KeyId":"\#(key)","KeySpec":"AES_256"}"#
                case "GenerateRandom": return #"{"NumberOfBytes":16}"#
                case "CreateCloudHsmCluster": return #"{"HsmCount":2,"KmsUserPassword":"\#(Fixtures.kmsUserPassword)"}"#
                case "UpdateCloudHsmCluster": return #"{"ClusterId":"\#(freeCluster)","HsmCount":0}"#
                case "CreateXksProxy":
                    return #"{"UriEndpoint":"https://denied.example.com","UriPath":"/kms/xks/v1","AccessKeyId":"ABCDEFGHIJKLMNOPQRST","RawSecretAccessKey":"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ","ExternalKeyIds":["k1"]}"#
                case "SetConnectionFault": return #"{"CustomKeyStoreId":"\#(disconnected)","ConnectionErrorCode":"NETWORK_ERRORS"}"#
                case "AdvanceClock": return #"{"Seconds":2678400}"#
                case "CreateGrant":
                    return #"{"KeyId":"\#(key)","GranteePrincipal":"arn:aws:iam::111122223333:role/denied","Operations":["Decrypt"]}"#
                case "RetireGrant", "RevokeGrant": return #"{"KeyId":"\#(key)","GrantId":"\#(grantId)"}"#
                case "PutKeyPolicy":
                    return #"{"KeyId":"\#(key)","Policy":"{\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":\"*\",\"Action\":\"kms:*\",\"Resource\":\"*\"}]}"}"#
                case "TagResource": return #"{"KeyId":"\#(key)","Tags":[{"TagKey":"denied","TagValue":"x"}]}"#
                case "UntagResource": return #"{"KeyId":"\#(key)","TagKeys":["owner"]}"#
                case "UpdateAlias": return #"{"AliasName":"alias/existing","TargetKeyId":"\#(disabledKey)"}"#
                case "UpdateKeyDescription": return #"{"KeyId":"\#(key)","Description":"denied"}"#
                case "ReEncrypt": return #"{"CiphertextBlob":"\#(ciphertext)","DestinationKeyId":"\#(disabledKey)"}"#
                case "GenerateDataKeyWithoutPlaintext": return #"{"KeyId":"\#(key)","KeySpec":"AES_256"}"#
                case "ListRetirableGrants": return #"{"RetiringPrincipal":"arn:aws:iam::111122223333:role/app"}"#
                case "StartWorkload":
                    return #"{"KeyId":"\#(key)","Operation":"Decrypt","Principal":"arn:aws:iam::111122223333:role/app","EveryMinutes":5}"#
                case "StopWorkload": return #"{"WorkloadId":"wl-denied"}"#
                default:
                    if operation.requestSchema.members.contains(where: { $0.name == "KeyId" }) { return #"{"KeyId":"\#(key)"}"# }
                    return "{}"
                }
            }
        }

        static func makeEstate(_ client: KMSClient) async throws -> Estate {
            let connected = try await Fixtures.makeStore(client, name: "auth-connected")
            try await Fixtures.connect(client, connected)
            let disconnected = try await Fixtures.makeStore(client, name: "auth-disconnected")
            let free = try await client.createCloudHsmCluster(kmsUserPassword: Fixtures.kmsUserPassword, hsmCount: 2)
            let keys = try await Fixtures.makeKeys(client, storeId: connected, count: 3)
            _ = try await client.scheduleKeyDeletion(keyId: keys[1], pendingWindowInDays: 30)
            try await client.disableKey(keyId: keys[2])
            try await client.createAlias(aliasName: "alias/existing", targetKeyId: keys[0])
            let encrypted = try await client.encrypt(EncryptRequest(keyId: keys[0], plaintext: Data("hello".utf8)))
            try await client.tagResource(keyId: keys[0], tags: [Tag(tagKey: "owner", tagValue: "auth")])
            let grant = try await client.createGrant(CreateGrantRequest(
                keyId: keys[0], granteePrincipal: "arn:aws:iam::111122223333:role/app", operations: ["Decrypt"]))
            return Estate(connected: connected, disconnected: disconnected, freeCluster: free.clusterId,
                          trustAnchor: free.trustAnchorCertificate, key: keys[0], pendingKey: keys[1], disabledKey: keys[2],
                          ciphertext: encrypted.ciphertextBlob?.base64EncodedString() ?? "", grantId: grant.grantId ?? "")
        }

        @Test func refusedRequestsChangeNothing() async throws {
            let operations = WireOperation.all.values.sorted { $0.target < $1.target }
            let denied = operations.enumerated().map { Self.withoutAction($1, index: $0) }
            try await withServe(principals: [Self.admin, Self.other] + denied) { core in
                let estate = try await Self.makeEstate(core.client())
                let before = try databaseSnapshot(core.databaseFile)
                var captured = ""
                var checked = 0

                func expectRefusal(_ request: Data, _ type: String, _ messagePart: String? = nil,
                                   _ label: String) async throws {
                    let answer = try await onThread { try exchange(port: core.port, request) }
                    captured += "\(answer.headers)\n\(answer.bodyText)\n"
                    checked += 1
                    #expect(answer.status == 400 || answer.status == 403, "\(label): HTTP \(answer.status)")
                    #expect(answer.awsError?.type == type, "\(label): expected \(type), got \(answer)")
                    if let messagePart {
                        #expect(answer.awsError?.message.contains(messagePart) == true,
                                "\(label): message should contain '\(messagePart)': \(answer)")
                    }
                }

                // A principal without each action: AccessDenied naming the action, for a request that would succeed.
                // Except "who am I" (CksAdmin.GetCallerIdentity): every authenticated principal may ask, as with STS.
                for (operation, principal) in zip(operations, denied) {
                    let builder = RawRequestBuilder(port: core.port, credentials: principal.credentials)
                    if CksAdmin.unrestrictedTargets.contains(operation.target) {
                        let answer = try await onThread { try exchange(port: core.port, builder.request(target: operation.target, body: Data("{}".utf8))) }
                        #expect(answer.status == 200 && answer.bodyText.contains(principal.name),
                                "\(operation.target) answers any principal with its own identity: \(answer)")
                        continue
                    }
                    try await expectRefusal(builder.request(target: operation.target, body: Data(estate.body(for: operation).utf8),
                                                            service: WireOperation.signingName(for: operation.target)),
                                            "AccessDeniedException", "not authorized to perform: \(operation.iamAction)",
                                            "\(principal.name) → \(operation.target)")
                }

                // Signatures, on requests that would delete a store or create a key.
                let admin = RawRequestBuilder(port: core.port, credentials: Self.admin.credentials)
                let delete = Data(#"{"CustomKeyStoreId":"\#(estate.disconnected)"}"#.utf8)
                let target = "TrentService.DeleteCustomKeyStore"
                try await expectRefusal(admin.request(target: target, body: delete, date: Date().addingTimeInterval(-360)),
                                        "InvalidSignatureException", "Signature expired", "expired signature")
                try await expectRefusal(admin.request(target: target, body: delete, date: Date().addingTimeInterval(400)),
                                        "InvalidSignatureException", "Signature not yet current", "future-dated signature")
                try await expectRefusal(admin.request(target: target, body: delete,
                                                      signedBody: Data(#"{"CustomKeyStoreId":"cks-0000000000000000a"}"#.utf8)),
                                        "InvalidSignatureException", "does not match", "body changed after signing")
                try await expectRefusal(admin.request(target: target, body: delete, service: "s3"),
                                        "InvalidSignatureException", "'kms'", "wrong service")
                try await expectRefusal(admin.request(target: target, body: delete, secret: "wrongSecret/000000000000000000000000000000"),
                                        "InvalidSignatureException", "does not match", "wrong secret")
                let stranger = RawRequestBuilder(port: core.port, credentials: AWSCredentials(
                    accessKeyId: "AKIAUNKNOWN000000000", secretAccessKey: "unknownSecret/00000000000000000000000000"))
                try await expectRefusal(stranger.request(target: target, body: delete), "UnrecognizedClientException",
                                        "security token included in the request is invalid", "unknown access key")
                try await expectRefusal(admin.request(target: target, body: delete, authorization: .none),
                                        "MissingAuthenticationTokenException", nil, "no Authorization")
                for malformed in ["AWS4-HMAC-SHA256", "AWS4-HMAC-SHA256 Credential=AKIARELADMIN00000001/20260101/us-east-1/kms/aws4_request",
                                  "AWS4-HMAC-SHA256 Credential=, SignedHeaders=, Signature=",
                                  "AWS4-HMAC-SHA256 Credential=AKIARELADMIN00000001, SignedHeaders=host, Signature=00",
                                  "Bearer abc", "AWS AKIARELADMIN00000001:c2lnbmF0dXJl", String(repeating: "A", count: 8000),
                                  "AWS4-HMAC-SHA256 Credential=AKIARELADMIN00000001/20260101/us-east-1/kms/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=zz"] {
                    let answer = try await onThread {
                        try exchange(port: core.port, admin.request(target: target, body: delete, authorization: .literal(malformed)))
                    }
                    captured += answer.bodyText
                    checked += 1
                    let type = answer.awsError?.type ?? "none"
                    #expect(["IncompleteSignatureException", "MissingAuthenticationTokenException", "InvalidSignatureException",
                             "UnrecognizedClientException"].contains(type) && answer.status == 400,
                            "malformed Authorization '\(malformed.prefix(60))': \(answer)")
                }
                // Correct signatures that leave out a header botocore signs: a captured DescribeCustomKeyStores could
                // otherwise be replayed as a DeleteCustomKeyStore (target), at another time (date) or content type.
                for (left, shown) in [("x-amz-target", "X-Amz-Target"), ("x-amz-date", "X-Amz-Date"),
                                      ("content-type", "Content-Type")] {
                    try await expectRefusal(admin.request(target: target, body: delete, leftUnsigned: [left]),
                                            "InvalidSignatureException", "'\(shown)' must be a 'SignedHeader'",
                                            "\(left) left out of SignedHeaders")
                }
                var temporary = admin
                temporary.credentials.sessionToken = "FwoGZXIvYXdzEXAMPLESESSIONTOKEN"
                try await expectRefusal(temporary.request(target: target, body: delete, leftUnsigned: ["x-amz-security-token"]),
                                        "InvalidSignatureException", "'X-Amz-Security-Token' must be a 'SignedHeader'",
                                        "session token left out of SignedHeaders")

                // A signed request without X-Amz-Date.
                let signed = String(decoding: admin.request(target: target, body: delete), as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
                    .filter { !$0.lowercased().hasPrefix("x-amz-date:") }.joined(separator: "\r\n")
                let noDate = try await onThread { try exchange(port: core.port, Data(signed.utf8)) }
                checked += 1
                #expect(noDate.status == 400 && noDate.awsError != nil && noDate.awsError?.type != nil)
                #expect(["IncompleteSignatureException", "InvalidSignatureException"].contains(noDate.awsError?.type ?? ""),
                        "no X-Amz-Date: \(noDate)")

                // Another account, and another region of the same account: those resources do not exist for them.
                let other = RawRequestBuilder(port: core.port, credentials: Self.other.credentials)
                var elsewhere = admin
                elsewhere.region = "eu-west-1"
                for builder in [other, elsewhere] {
                    let who = builder.region == "eu-west-1" ? "admin in eu-west-1" : "other account"
                    try await expectRefusal(builder.request(target: target, body: delete), "CustomKeyStoreNotFoundException", nil,
                                            "\(who) deletes the store")
                    try await expectRefusal(builder.request(target: "TrentService.DisconnectCustomKeyStore",
                                                            body: Data(#"{"CustomKeyStoreId":"\#(estate.connected)"}"#.utf8)),
                                            "CustomKeyStoreNotFoundException", nil, "\(who) disconnects the store")
                    for keyRef in [estate.key, "arn:aws:kms:us-east-1:111122223333:key/\(estate.key)", "alias/existing"] {
                        try await expectRefusal(builder.request(target: "TrentService.ScheduleKeyDeletion",
                                                                body: Data(#"{"KeyId":"\#(keyRef)","PendingWindowInDays":7}"#.utf8)),
                                                "NotFoundException", nil, "\(who) schedules deletion of \(keyRef)")
                    }
                    try await expectRefusal(builder.request(target: "TrentService.CancelKeyDeletion",
                                                            body: Data(#"{"KeyId":"\#(estate.pendingKey)"}"#.utf8)),
                                            "NotFoundException", nil, "\(who) cancels deletion")
                    let listed = try await onThread { try exchange(port: core.port, builder.request(target: "TrentService.ListKeys", body: Data("{}".utf8))) }
                    #expect(listed.status == 200 && !listed.bodyText.contains(estate.key), "\(who) lists the account's keys: \(listed)")
                }

                let after = try databaseSnapshot(core.databaseFile)
                #expect(before == after, "refused requests changed the data: \(Set(after).symmetricDifference(before).prefix(5))")
                // The refusals never echo a secret.
                for secret in ([Self.admin, Self.other] + denied).map(\.secretAccessKey) + [Fixtures.kmsUserPassword] {
                    #expect(!captured.contains(secret), "a secret appears in an answer")
                }
                reportFigure("auth", "\(checked) refused requests (\(denied.count) actions denied one by one), data unchanged")
            }
        }

        /// The principals file and data dir are owner-only; the core prints the access key id, never the secret;
        /// no secret (principal secrets, kmsuser and XKS passwords) reaches the logs, answers or errors.
        @Test func filesAreOwnerOnlyAndSecretsNeverLeak() async throws {
            try await withServe { core in
                let dataMode = try FileManager.default.attributesOfItem(atPath: core.dataDirectory.path)[.posixPermissions] as? Int
                let fileMode = try FileManager.default.attributesOfItem(atPath: core.principalsFile.path)[.posixPermissions] as? Int
                #expect(dataMode.map { $0 & 0o077 } == 0, "data dir mode \(String(dataMode ?? -1, radix: 8))")
                #expect(fileMode.map { $0 & 0o077 } == 0, "principals file mode \(String(fileMode ?? -1, radix: 8))")
                #expect(core.log.contains(core.admin.accessKeyId), "the core prints the admin access key id")

                let client = core.client()
                var answers = ""
                let storeId = try await Fixtures.makeStore(client, name: "secret-store")
                let xksSecret = "xksRawSecret0123456789abcdefghijklmnopqrstuv"
                _ = try? await client.createXksProxy(CreateXksProxyRequest(
                    uriEndpoint: "https://xks.example.com", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                    rawSecretAccessKey: xksSecret, externalKeyIds: ["ext-1"]))
                _ = try? await client.createCustomKeyStore(CreateCustomKeyStoreRequest(
                    customKeyStoreName: "secret-xks", customKeyStoreType: .externalKeyStore,
                    xksProxyUriEndpoint: "https://xks.example.com", xksProxyUriPath: "/kms/xks/v1",
                    xksProxyAuthenticationCredential: XksProxyAuthenticationCredentialType(accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                                                                                          rawSecretAccessKey: xksSecret),
                    xksProxyConnectivity: .publicEndpoint))
                // Requests whose errors could echo a secret: too-long and patterned passwords, wrong secrets.
                let longPassword = "TooLongPasswordSecret-0123456789abcdefgh"
                let builder = RawRequestBuilder(port: core.port, credentials: core.admin.credentials)
                for body in [#"{"CustomKeyStoreId":"\#(storeId)","KeyStorePassword":"\#(longPassword)"}"#,
                             #"{"CustomKeyStoreId":"\#(storeId)","XksProxyAuthenticationCredential":{"AccessKeyId":"bad","RawSecretAccessKey":"\#(longPassword)"}}"#] {
                    let answer = try await onThread { try exchange(port: core.port, builder.request(target: "TrentService.UpdateCustomKeyStore", body: Data(body.utf8))) }
                    answers += "\(answer.headers) \(answer.bodyText)\n"
                }
                let wrong = try await onThread {
                    try exchange(port: core.port, builder.request(target: "TrentService.ListKeys", body: Data("{}".utf8),
                                                                   secret: "wrongSecret/111111111111111111111111111111"))
                }
                answers += wrong.bodyText
                for page in try await client.allCustomKeyStores() { answers += "\(page)" }
                answers += "\(try await client.describeCloudHsmClusters())"
                await core.stop()
                let everything = answers + core.log
                for secret in [core.admin.secretAccessKey, Fixtures.kmsUserPassword, xksSecret, longPassword] {
                    #expect(!everything.contains(secret), "secret '\(secret.prefix(6))…' leaked into answers or logs")
                }
                let files = (try? FileManager.default.contentsOfDirectory(atPath: core.logDirectory.path)) ?? []
                reportFigure("auth", "modes data dir \(String(dataMode ?? 0, radix: 8)), principals \(String(fileMode ?? 0, radix: 8)); "
                    + "secrets grepped in \(everything.count) bytes of answers and \(files.count) log files")
            }
        }

        /// A principals file readable by others is refused at start, with a message saying how to fix it.
        @Test func worldReadablePrincipalsFileIsRefused() async throws {
            let dir = try TemporaryDirectory(prefix: "cks-rel-perm")
            defer { dir.remove() }
            let file = dir.url.appendingPathComponent("principals.json")
            try ServeProcess.writePrincipals([Self.admin], to: file)
            try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
            let binary = try Locations.requireCksBinary()
            let result = try await ProcessRunner.run([binary.path] + ["serve", "--listen", "127.0.0.1:0", "--data-dir",
                                                       dir.url.appendingPathComponent("data").path, "--principals", file.path],
                                              timeout: .seconds(30))
            #expect(result.status != 0)
            #expect((result.stdout + result.stderr).contains("chmod"), "the refusal says how to fix it: \(result.stderr)")
            #expect(!(result.stdout + result.stderr).contains(Self.admin.secretAccessKey))
        }
    }
}
