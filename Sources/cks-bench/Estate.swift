import Foundation

/// Seeds and inspects an estate over the wire (the core's or moto's KMS API), through kept-alive raw connections:
/// every key goes through the server's own CreateKey, just many at once.
struct Estate {
    let server: any MeasuredServer

    /// One call; throws unless it answers 2xx with a JSON object.
    func call(_ target: String, _ body: [String: Any] = [:]) throws -> [String: Any] {
        let json = String(decoding: try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys]), as: UTF8.self)
        let fullTarget = target.contains(".") ? target : "TrentService.\(target)"
        guard let answer = RawConnection.once(port: server.port, server.factory.make(fullTarget, json)) else {
            throw BenchError("\(server.label): \(fullTarget) got no answer")
        }
        guard (200..<300).contains(answer.status) else {
            throw BenchError("\(server.label): \(fullTarget) answered \(answer.status): \(answer.text.prefix(300))")
        }
        return answer.json ?? [:]
    }

    /// Creates `count` keys with `workers` concurrent connections; returns their ids. `body` is CreateKey's JSON.
    func createKeys(_ count: Int, workers: Int, body: String = "{}", progressEvery: Int = 20_000) throws -> [String] {
        guard count > 0 else { return [] }
        var ids: [String] = []
        ids.reserveCapacity(count)
        let started = Date()
        var done = 0
        while done < count {
            let batch = min(progressEvery, count - done)
            let factory = server.factory
            // Signed per request at its own time: a batch may outlive a signature's five minutes.
            let answers = RawConnection.parallel(port: server.port, count: batch, workers: workers) { _ in
                factory.make("TrentService.CreateKey", body)
            }
            var failures = 0
            var sample = ""
            for answer in answers {
                if let answer, (200..<300).contains(answer.status),
                   let metadata = answer.json?["KeyMetadata"] as? [String: Any], let id = metadata["KeyId"] as? String {
                    ids.append(id)
                } else {
                    failures += 1
                    if sample.isEmpty { sample = answer.map { "\($0.status) \($0.text.prefix(300))" } ?? "no answer" }
                }
            }
            if failures > 0 { throw BenchError("\(server.label): \(failures) of \(batch) CreateKey failed, e.g. \(sample)") }
            done += batch
            if count > progressEvery {
                let rate = Double(done) / Date().timeIntervalSince(started)
                Host.log("  \(server.label): \(done)/\(count) keys created (\(Int(rate))/s)")
            }
        }
        return ids
    }

    /// Every ListKeys page's marker (nil for the first page), walking the whole estate `limit` keys at a time.
    func listKeyMarkers(limit: Int = 100) throws -> (markers: [String?], keyCount: Int) {
        var markers: [String?] = [nil]
        var marker: String?
        var count = 0
        while true {
            var body: [String: Any] = ["Limit": limit]
            if let marker { body["Marker"] = marker }
            let page = try call("ListKeys", body)
            count += (page["Keys"] as? [Any])?.count ?? 0
            guard page["Truncated"] as? Bool == true, let next = page["NextMarker"] as? String else { break }
            markers.append(next)
            marker = next
        }
        return (markers, count)
    }

    /// A simulated CloudHSM cluster and a CloudHSM key store on it, connected (the simulated clock is advanced past
    /// the connect duration). Returns the store id.
    func connectedCloudHsmStore(name: String) throws -> String {
        let password = "kmsuser-bench-1"
        let cluster = try call("CksAdmin.CreateCloudHsmCluster", ["KmsUserPassword": password])
        guard let clusterId = cluster["ClusterId"] as? String, let anchor = cluster["TrustAnchorCertificate"] as? String else {
            throw BenchError("CreateCloudHsmCluster returned no ClusterId")
        }
        let store = try call("CreateCustomKeyStore", ["CustomKeyStoreName": name, "CloudHsmClusterId": clusterId,
                                                      "KeyStorePassword": password, "TrustAnchorCertificate": anchor])
        guard let storeId = store["CustomKeyStoreId"] as? String else { throw BenchError("CreateCustomKeyStore returned no id") }
        _ = try call("ConnectCustomKeyStore", ["CustomKeyStoreId": storeId])
        for _ in 0..<10 {
            let described = try call("DescribeCustomKeyStores", ["CustomKeyStoreId": storeId])
            let state = ((described["CustomKeyStores"] as? [[String: Any]])?.first?["ConnectionState"] as? String) ?? "?"
            if state == "CONNECTED" { return storeId }
            guard state == "CONNECTING" else { throw BenchError("store \(name) is \(state), not CONNECTING") }
            _ = try call("CksAdmin.AdvanceClock", ["Seconds": 30 * 60])
        }
        throw BenchError("store \(name) never became CONNECTED")
    }

    /// CancelKeyDeletion for each key, errors ignored (undoes what a Schedule+Cancel run left scheduled).
    func cancelDeletions(_ ids: [String], workers: Int = 8) {
        let factory = server.factory
        _ = RawConnection.parallel(port: server.port, count: ids.count, workers: workers) { i in
            factory.make("TrentService.CancelKeyDeletion", "{\"KeyId\":\(RequestFactory.json(ids[i]))}")
        }
    }
}

