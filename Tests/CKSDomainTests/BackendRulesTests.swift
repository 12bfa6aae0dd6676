import CKSDomain
import Foundation
import Testing

@Suite("Simulated backends: clusters and proxies")
struct BackendRulesTests {
    let scope = ResourceScope(account: "111122223333", region: "us-east-1")

    func cluster(hsms: Int = 2, active: Bool = true) -> HsmCluster {
        HsmCluster(id: "cluster-abcdefghijk", scope: scope, hsmCount: hsms, kmsUserPassword: "kmsPswd1",
                        trustAnchorCertificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----",
                        state: active ? "ACTIVE" : "UNINITIALIZED", creationDate: Date())
    }

    func store(password: String = "kmsPswd1", fault: ConnectionErrorCode? = nil) -> CustomKeyStore {
        CustomKeyStore(id: "cks-1", scope: scope, name: "s", type: .awsCloudHsm, creationDate: Date(),
                       cloudHsm: CloudHsmSettings(clusterId: "cluster-abcdefghijk", trustAnchorCertificate: "x", keyStorePassword: password),
                       connection: .new(at: Date()), connectionFault: fault)
    }

    func code(_ body: () throws -> Void) -> KMSErrorCode? {
        do { try body(); return nil } catch let error as KMSError { return error.code } catch { return .kmsInternal }
    }

    @Test("CreateCustomKeyStore cluster checks, in order")
    func create() {
        let anchor = cluster().trustAnchorCertificate
        #expect(code { try BackendRules.checkCreate(clusterId: "cluster-x", cluster: nil, inUseBy: nil, trustAnchorCertificate: anchor) } == .cloudHsmClusterNotFound)
        #expect(code { try BackendRules.checkCreate(clusterId: "c", cluster: cluster(), inUseBy: "cks-2", trustAnchorCertificate: anchor) } == .cloudHsmClusterInUse)
        #expect(code { try BackendRules.checkCreate(clusterId: "c", cluster: cluster(active: false), inUseBy: nil, trustAnchorCertificate: anchor) } == .cloudHsmClusterNotActive)
        #expect(code { try BackendRules.checkCreate(clusterId: "c", cluster: cluster(hsms: 1), inUseBy: nil, trustAnchorCertificate: anchor) } == .cloudHsmClusterInvalidConfiguration)
        #expect(code { try BackendRules.checkCreate(clusterId: "c", cluster: cluster(), inUseBy: nil, trustAnchorCertificate: "other") } == .incorrectTrustAnchor)
        // Whitespace differences in the PEM do not matter.
        #expect(code { try BackendRules.checkCreate(clusterId: "c", cluster: cluster(), inUseBy: nil, trustAnchorCertificate: anchor.replacingOccurrences(of: "\n", with: "\r\n") + "\n") } == nil)
    }

    @Test("Connect: synchronous failures leave the store DISCONNECTED; the rest decide the outcome")
    func connectCloudHsm() throws {
        #expect(code { _ = try BackendRules.connectOutcome(store: store(), cluster: cluster(active: false)) } == .cloudHsmClusterNotActive)
        #expect(code { _ = try BackendRules.connectOutcome(store: store(), cluster: cluster(hsms: 0)) } == .cloudHsmClusterInvalidConfiguration)
        #expect(try BackendRules.connectOutcome(store: store(), cluster: cluster(hsms: 1)) == nil)
        #expect(try BackendRules.connectOutcome(store: store(), cluster: nil) == .clusterNotFound)
        #expect(try BackendRules.connectOutcome(store: store(password: "wrong-pw"), cluster: cluster()) == .invalidCredentials)
        #expect(try BackendRules.connectOutcome(store: store(fault: .networkErrors), cluster: cluster()) == .networkErrors)
    }

    func xksStore(secret: String = "S" + String(repeating: "a", count: 42), fault: ConnectionErrorCode? = nil) -> CustomKeyStore {
        CustomKeyStore(id: "cks-2", scope: scope, name: "x", type: .externalKeyStore, creationDate: Date(),
                       xks: XksProxySettings(connectivity: .publicEndpoint, uriEndpoint: "https://proxy.example", uriPath: "/kms/xks/v1",
                                             accessKeyId: "ABCDEFGHIJKLMNOPQRST", rawSecretAccessKey: secret),
                       connection: .new(at: Date()), connectionFault: fault)
    }
    let proxy = XksProxy(uriEndpoint: "https://proxy.example", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                         rawSecretAccessKey: "S" + String(repeating: "a", count: 42), externalKeyIds: ["key-1", "key-2"])

    @Test("Connect of an external key store is always asynchronous")
    func connectXks() {
        #expect(BackendRules.connectOutcome(store: xksStore(), proxy: proxy) == nil)
        #expect(BackendRules.connectOutcome(store: xksStore(), proxy: nil) == .xksProxyNotReachable)
        #expect(BackendRules.connectOutcome(store: xksStore(secret: "wrong"), proxy: proxy) == .invalidCredentials)
        #expect(BackendRules.connectOutcome(store: xksStore(fault: .xksProxyTimedOut), proxy: proxy) == .xksProxyTimedOut)
    }

    @Test("proxy reachability and credential at create/update")
    func proxyChecks() {
        let s = xksStore().xks!
        #expect(code { try BackendRules.checkProxyReachable(s, proxy: nil) } == .xksProxyUriUnreachable)
        #expect(code { try BackendRules.checkProxyReachable(xksStore(secret: "nope").xks!, proxy: proxy) } == .xksProxyIncorrectAuthenticationCredential)
        #expect(code { try BackendRules.checkProxyReachable(s, proxy: proxy) } == nil)
    }

    @Test("XksKeyId must exist on the proxy and be unused in the store")
    func xksKeys() {
        #expect(code { try BackendRules.checkXksKey("key-9", proxy: proxy, storeId: "cks-2", usedBy: nil) } == .xksKeyNotFound)
        #expect(code { try BackendRules.checkXksKey("key-1", proxy: nil, storeId: "cks-2", usedBy: nil) } == .xksKeyNotFound)
        #expect(code { try BackendRules.checkXksKey("key-1", proxy: proxy, storeId: "cks-2", usedBy: "k") } == .xksKeyAlreadyInUse)
        #expect(code { try BackendRules.checkXksKey("key-1", proxy: proxy, storeId: "cks-2", usedBy: nil) } == nil)
    }

    @Test("per-type required fields")
    func required() {
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a")) } == .validation)
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a", cloudHsmClusterId: "c", trustAnchorCertificate: "t", keyStorePassword: "p")) } == nil)
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a", cloudHsmClusterId: "c", trustAnchorCertificate: "t", keyStorePassword: "p", xksUriPath: "/kms/xks/v1")) } == .validation)
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a", type: .externalKeyStore, xksConnectivity: .publicEndpoint,
                                                             xksUriEndpoint: "https://e", xksUriPath: "/kms/xks/v1")) } == .validation)
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a", type: .externalKeyStore, xksConnectivity: .vpcEndpointService,
                                                             xksUriEndpoint: "https://e", xksUriPath: "/kms/xks/v1", xksAccessKeyId: "A", xksSecretAccessKey: "B")) } == .validation)
        #expect(code { _ = try StoreRules.settings(for: .init(name: "a", type: .externalKeyStore, xksConnectivity: .publicEndpoint,
                                                             xksUriEndpoint: "https://e", xksUriPath: "/kms/xks/v1", xksAccessKeyId: "A", xksSecretAccessKey: "B")) } == nil)
    }

    @Test("XKS uniqueness rules")
    func uniqueness() {
        func s(_ endpoint: String, _ path: String, _ c: XksProxyConnectivity = .publicEndpoint, vpc: String? = nil) -> XksProxySettings {
            XksProxySettings(connectivity: c, uriEndpoint: endpoint, uriPath: path, vpcEndpointServiceName: vpc, accessKeyId: "A", rawSecretAccessKey: "B")
        }
        func store(_ x: XksProxySettings) -> CustomKeyStore {
            CustomKeyStore(id: "cks-9", scope: scope, name: "o", type: .externalKeyStore, creationDate: Date(), xks: x, connection: .new(at: Date()))
        }
        let pub = store(s("https://a", "/kms/xks/v1"))
        let vpc = store(s("https://v", "/kms/xks/v1", .vpcEndpointService, vpc: "com.amazonaws.vpce.us-east-1.vpce-svc-1"))
        #expect(code { try StoreRules.checkXksUniqueness(s("https://a", "/kms/xks/v1"), against: [pub]) } == .xksProxyUriInUse)
        #expect(code { try StoreRules.checkXksUniqueness(s("https://a", "/p/kms/xks/v1"), against: [pub]) } == nil)
        #expect(code { try StoreRules.checkXksUniqueness(s("https://v", "/p/kms/xks/v1"), against: [vpc]) } == .xksProxyUriEndpointInUse)
        #expect(code { try StoreRules.checkXksUniqueness(s("https://w", "/kms/xks/v1", .vpcEndpointService, vpc: "com.amazonaws.vpce.us-east-1.vpce-svc-1"), against: [vpc]) } == .xksProxyVpcEndpointServiceInUse)
    }
}

@Suite("Simulated backends: VPC endpoint services")
struct VpcBackendTests {
    let scope = ResourceScope(account: "111122223333", region: "us-east-1")
    let service = "com.amazonaws.vpce.us-east-1.vpce-svc-0123abcd"

    func store(vpc: String) -> CustomKeyStore {
        CustomKeyStore(id: "cks-3", scope: scope, name: "v", type: .externalKeyStore, creationDate: Date(),
                       xks: XksProxySettings(connectivity: .vpcEndpointService, uriEndpoint: "https://private.example", uriPath: "/kms/xks/v1",
                                             vpcEndpointServiceName: vpc, accessKeyId: "ABCDEFGHIJKLMNOPQRST", rawSecretAccessKey: "secret"),
                       connection: .new(at: Date()))
    }

    @Test("a VPC store connects only through the proxy's endpoint service")
    func connect() {
        let proxy = XksProxy(uriEndpoint: "https://private.example", uriPath: "/kms/xks/v1", accessKeyId: "ABCDEFGHIJKLMNOPQRST",
                             rawSecretAccessKey: "secret", externalKeyIds: [], vpcEndpointServiceName: service)
        #expect(BackendRules.connectOutcome(store: store(vpc: service), proxy: proxy) == nil)
        #expect(BackendRules.connectOutcome(store: store(vpc: service + "9"), proxy: proxy) == .xksVpcEndpointServiceNotFound)
        #expect((try? BackendRules.checkVpcEndpointService(service, proxy: proxy)) != nil)
        do { try BackendRules.checkVpcEndpointService(service, proxy: nil); Issue.record("accepted") } catch {
            #expect(error.code == .xksProxyVpcEndpointServiceNotFound)
        }
    }
}
