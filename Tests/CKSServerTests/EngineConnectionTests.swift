@testable import CKSServer
import CKSDomain
import CKSWire
import Foundation
import Testing

@Suite("Engine: connecting, failing, recovering, updating")
struct EngineConnectionTests {
    @Test("synchronous connect failures throw and leave the store DISCONNECTED")
    func synchronousFailures() async throws {
        try await withEngine { h in
            let (storeId, clusterId) = try await h.hsmStore()
            try await h.call(UpdateCloudHsmClusterRequest(clusterId: clusterId, state: "UNINITIALIZED"))
            await h.expect(.cloudHsmClusterNotActive, ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(try await h.state(storeId) == .disconnected)

            try await h.call(UpdateCloudHsmClusterRequest(clusterId: clusterId, hsmCount: 0, state: "ACTIVE"))
            await h.expect(.cloudHsmClusterInvalidConfiguration, ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(try await h.state(storeId) == .disconnected)

            // One HSM is enough to connect (two are needed to create keys).
            try await h.call(UpdateCloudHsmClusterRequest(clusterId: clusterId, hsmCount: 1))
            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
            await h.expect(.cloudHsmClusterInvalidConfiguration, CreateKeyRequest(origin: .awsCloudHsm, customKeyStoreId: storeId))
        }
    }

    @Test("asynchronous failure: CONNECTING → FAILED with INVALID_CREDENTIALS; FAILED leaves only through Disconnect")
    func failedAndRecovered() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore(password: "wrong-password")
            try await h.connect(storeId, wait: false)
            let connecting = try await h.entry(storeId)
            #expect(connecting.connectionState == .connecting)
            #expect(connecting.connectionErrorCode == nil)
            try await h.advance(1200)
            let failed = try await h.entry(storeId)
            #expect(failed.connectionState == .failed)
            #expect(failed.connectionErrorCode == .invalidCredentials)

            // Connect on FAILED is refused; Update too; Disconnect is the way out.
            await h.expect(.customKeyStoreInvalidState, ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            await h.expect(.customKeyStoreInvalidState, UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, keyStorePassword: EngineHarness.password))
            try await h.disconnect(storeId)
            let disconnected = try await h.entry(storeId)
            #expect(disconnected.connectionState == .disconnected)
            #expect(disconnected.connectionErrorCode == nil)

            try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: storeId, keyStorePassword: EngineHarness.password))
            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
        }
    }

    @Test("SetConnectionFault: every connect ends FAILED with the code until it is cleared")
    func faults() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            try await h.call(SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: .networkErrors))
            try await h.connect(storeId)
            #expect(try await h.entry(storeId).connectionErrorCode == .networkErrors)
            try await h.disconnect(storeId)
            try await h.connect(storeId)
            #expect(try await h.entry(storeId).connectionErrorCode == .networkErrors)
            try await h.disconnect(storeId)
            try await h.call(SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: nil))
            try await h.connect(storeId)
            #expect(try await h.state(storeId) == .connected)
            await h.expect(.customKeyStoreNotFound, SetConnectionFaultRequest(customKeyStoreId: storeId, connectionErrorCode: nil),
                           as: EngineHarness.bob)
        }
    }

    @Test("Connect on CONNECTED or CONNECTING is accepted and changes nothing; Disconnect on DISCONNECTED/DISCONNECTING is refused")
    func idempotentConnect() async throws {
        try await withEngine { h in
            let (storeId, _) = try await h.hsmStore()
            await h.expect(.customKeyStoreInvalidState, DisconnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            try await h.connect(storeId, wait: false)
            try await h.advance(600)
            // A second connect does not restart the 20 minutes.
            try await h.call(ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            try await h.advance(600)
            #expect(try await h.state(storeId) == .connected)
            try await h.call(ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            #expect(try await h.state(storeId) == .connected)
            try await h.disconnect(storeId, wait: false)
            await h.expect(.customKeyStoreInvalidState, DisconnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            await h.expect(.customKeyStoreInvalidState, ConnectCustomKeyStoreRequest(customKeyStoreId: storeId))
            // Disconnect is valid from CONNECTING too.
            try await h.advance(30)
            try await h.connect(storeId, wait: false)
            try await h.disconnect(storeId)
            #expect(try await h.state(storeId) == .disconnected)
        }
    }

    @Test("UpdateCustomKeyStore per field and state; name uniqueness")
    func update() async throws {
        try await withEngine { h in
            let (a, _) = try await h.hsmStore(name: "alpha")
            let (b, clusterB) = try await h.hsmStore(name: "beta")
            await h.expect(.customKeyStoreNameInUse, UpdateCustomKeyStoreRequest(customKeyStoreId: a, newCustomKeyStoreName: "beta"))
            try await h.connect(a)
            try await h.call(UpdateCustomKeyStoreRequest(customKeyStoreId: a, newCustomKeyStoreName: "gamma"))
            #expect(try await h.entry(a).customKeyStoreName == "gamma")
            await h.expect(.customKeyStoreInvalidState, UpdateCustomKeyStoreRequest(customKeyStoreId: a, keyStorePassword: "another1"))
            await h.expect(.validation, UpdateCustomKeyStoreRequest(customKeyStoreId: b, xksProxyUriPath: "/kms/xks/v1"))
            // Another cluster: in use by b, and not related.
            await h.expect(.customKeyStoreInvalidState, UpdateCustomKeyStoreRequest(customKeyStoreId: a, cloudHsmClusterId: clusterB))
            try await h.disconnect(a)
            await h.expect(.cloudHsmClusterInUse, UpdateCustomKeyStoreRequest(customKeyStoreId: a, cloudHsmClusterId: clusterB))
            let unrelated = try await h.cluster()
            await h.expect(.cloudHsmClusterNotRelated, UpdateCustomKeyStoreRequest(customKeyStoreId: a, cloudHsmClusterId: unrelated.clusterId))
            await h.expect(.cloudHsmClusterNotFound, UpdateCustomKeyStoreRequest(customKeyStoreId: a, cloudHsmClusterId: "cluster-zzzzzzzzzzz"))
            #expect(try await h.entry(b).customKeyStoreName == "beta")
        }
    }

    @Test("CreateCustomKeyStore: quota, name and cluster rules")
    func create() async throws {
        try await withEngine(quota: 3) { h in
            let c = try await h.cluster()
            let good = CreateCustomKeyStoreRequest(customKeyStoreName: "one", cloudHsmClusterId: c.clusterId,
                                                   trustAnchorCertificate: c.trustAnchorCertificate, keyStorePassword: "kmsPswd1")
            await h.expect(.incorrectTrustAnchor, CreateCustomKeyStoreRequest(customKeyStoreName: "one", cloudHsmClusterId: c.clusterId,
                                                                              trustAnchorCertificate: "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----",
                                                                              keyStorePassword: "kmsPswd1"))
            await h.expect(.cloudHsmClusterNotFound, good, as: EngineHarness.bob)
            await h.expect(.validation, CreateCustomKeyStoreRequest(customKeyStoreName: "no-cluster"))
            try await h.call(good)
            await h.expect(.customKeyStoreNameInUse, good)
            var sameCluster = good
            sameCluster.customKeyStoreName = "two"
            await h.expect(.cloudHsmClusterInUse, sameCluster)
            let small = try await h.cluster(hsms: 1)
            await h.expect(.cloudHsmClusterInvalidConfiguration,
                           CreateCustomKeyStoreRequest(customKeyStoreName: "two", cloudHsmClusterId: small.clusterId,
                                                       trustAnchorCertificate: small.trustAnchorCertificate, keyStorePassword: "kmsPswd1"))
            _ = try await h.hsmStore(name: "two")
            _ = try await h.hsmStore(name: "three")
            let over = await h.failure(CreateCustomKeyStoreRequest(customKeyStoreName: "four", cloudHsmClusterId: small.clusterId,
                                                                   trustAnchorCertificate: small.trustAnchorCertificate, keyStorePassword: "kmsPswd1"))
            #expect(over?.code == .limitExceeded)
            // The quota is per account and region.
            _ = try await h.hsmStore(name: "four", as: EngineHarness.bob)
            _ = try await h.hsmStore(name: "four", as: EngineHarness.aliceWest)
        }
    }

    @Test("the default quota is 10")
    func defaultQuota() async throws {
        try await withEngine { h in
            for i in 0..<10 { _ = try await h.hsmStore(name: "s\(i)") }
            let c = try await h.cluster()
            await h.expect(.limitExceeded, CreateCustomKeyStoreRequest(customKeyStoreName: "s10", cloudHsmClusterId: c.clusterId,
                                                                       trustAnchorCertificate: c.trustAnchorCertificate, keyStorePassword: "kmsPswd1"))
        }
    }
}
