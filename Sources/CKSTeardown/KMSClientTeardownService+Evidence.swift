import CKSClient
import CKSDomain
import CKSWire
import Foundation
import Synchronization

/// Evidence (grants, key policy, tags, CloudTrail) and the disable-and-observe calls over the project's clients.
extension KMSClientTeardownService {
    /// Operations that use a key's material: what counts as a use (GetKeyLastUsage's notion), as opposed to reading
    /// its metadata (the teardown's own DescribeKey, ListGrants... would otherwise count).
    static let cryptographicOperations: Set<String> = [
        "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext", "Sign", "Verify", "GenerateMac", "VerifyMac", "DeriveSharedSecret",
    ]

    public func evidence(of keys: [TeardownObservation.Key], lookbackDays: Int, now: Date,
                         progress: @escaping @Sendable (EvidenceProgress) -> Void) async -> EvidencePass {
        await evidence(of: keys, lookbackDays: lookbackDays, now: now, skipTrail: false, progress: progress)
    }

    func evidence(of keys: [TeardownObservation.Key], lookbackDays: Int, now: Date, skipTrail: Bool,
                  progress: @escaping @Sendable (EvidenceProgress) -> Void) async -> EvidencePass {
        let account = await caller().account
        let ids = keys.map(\.id)
        let counter = Counter()
        let perKey = await client.bulk(ids, concurrency: concurrency, onResult: { (_: BulkItemResult<KeyEvidence>) in
            progress(.keys(done: counter.increment()))
        }) { [client] (id: String) throws(KMSClientError) -> KeyEvidence in
            var evidence = KeyEvidence(trail: .unknown(reason: "not looked up"))
            do throws(KMSClientError) {
                evidence.grants = try await client.allGrants(keyId: id).map {
                    KeyEvidence.Grant(id: $0.grantId ?? "?", name: $0.name, grantee: $0.granteePrincipal ?? "?",
                                      retiringPrincipal: $0.retiringPrincipal, operations: $0.operations ?? [])
                }
            } catch {
                evidence.grants = nil
                evidence.grantsProblem = "\(error.typeName): \(error.message)"
            }
            do throws(KMSClientError) {
                let policy = try await client.getKeyPolicy(keyId: id)
                evidence.policyPrincipals = KeyEvidence.policyPrincipals(policy, account: account)
                if evidence.policyPrincipals == nil { evidence.policyProblem = "the policy is not a JSON policy document" }
            } catch {
                evidence.policyPrincipals = nil
                evidence.policyProblem = "\(error.typeName): \(error.message)"
            }
            if let tags = try? await client.allResourceTags(keyId: id) {
                evidence.tags = Dictionary(tags.map { ($0.tagKey, $0.tagValue) }, uniquingKeysWith: { a, _ in a })
            }
            return evidence
        }
        var evidence = Dictionary(perKey.compactMap { r in r.value.map { (r.id, $0) } }, uniquingKeysWith: { a, _ in a })
        let start = now.addingTimeInterval(-Double(lookbackDays) * 86_400)
        var pass = EvidencePass()
        if skipTrail {
            pass.evidence = evidence
            return pass
        }
        do {
            let (calls, requests, read) = try await trailCalls(on: Set(ids), from: start, to: now) { requests, events in
                progress(.trail(requests: requests, events: events))
            }
            pass.lookupRequests = requests
            pass.eventsRead = read
            for id in ids {
                evidence[id, default: KeyEvidence(trail: .unknown(reason: ""))].trail =
                    .known(TrailSummary.of(calls[id] ?? [], lookbackDays: lookbackDays, now: now))
            }
        } catch {
            let why = "CloudTrail LookupEvents failed (\(error.description)): use unknown"
            for id in ids { evidence[id, default: KeyEvidence(trail: .unknown(reason: why))].trail = .unknown(reason: why) }
        }
        pass.evidence = evidence
        return pass
    }

    /// One key's evidence for its detail screen: grants, policy, tags, and its own CloudTrail events (LookupEvents
    /// with ResourceName = the key's ARN: one key asked about, so one query for it).
    public func keyEvidence(keyId: String, keyArn: String, lookbackDays: Int, now: Date) async -> KeyEvidence {
        let key = TeardownObservation.Key(id: keyId, state: .enabled)
        let pass = await evidence(of: [key], lookbackDays: 0, now: now, skipTrail: true) { _ in }
        var found = pass.evidence[keyId] ?? KeyEvidence(trail: .unknown(reason: "not looked up"))
        let trail = cloudTrailClient()
        var request = LookupEventsRequest(lookupAttributes: [LookupAttribute(attributeKey: "ResourceName", attributeValue: keyArn)],
                                          startTime: now.addingTimeInterval(-Double(lookbackDays) * 86_400), endTime: now,
                                          maxResults: 50)
        var calls: [TrailCall] = []
        let decoder = JSONDecoder()
        do {
            while true {
                let page = try await trail.lookupEvents(request)
                for event in page.events ?? [] {
                    guard let name = event.eventName, Self.cryptographicOperations.contains(name), let time = event.eventTime else { continue }
                    let fields = event.cloudTrailEvent.flatMap { try? decoder.decode(RecordFields.self, from: Data($0.utf8)) }
                    calls.append(TrailCall(time: time, operation: name,
                                           caller: fields?.userIdentity?.arn ?? event.username ?? "unknown caller",
                                           errorCode: fields?.errorCode))
                }
                guard let token = page.nextToken, !token.isEmpty, calls.count < 100_000 else { break }
                request.nextToken = token
            }
            found.trail = .known(TrailSummary.of(calls, lookbackDays: lookbackDays, now: now))
        } catch {
            found.trail = .unknown(reason: "CloudTrail LookupEvents failed (\(error.typeName): \(error.message)): use unknown")
        }
        return found
    }

    public func refusedCalls(on keyIds: Set<String>, since: Date, now: Date) async throws(TeardownCallError) -> [RefusedAttempt] {
        let calls = try await trailCalls(on: keyIds, from: since, to: now, refusalsOnly: true).calls
        return calls.flatMap { id, list in list.map { RefusedAttempt(keyId: id, call: $0) } }
            .sorted { ($0.call.time, $0.keyId) > ($1.call.time, $1.keyId) }
    }

    /// One pass over the account's KMS events in [from, to] (LookupEvents with EventSource kms.amazonaws.com, 50 per
    /// page), filtered locally to `keyIds`: the cryptographic calls per key, newest first, and the requests it took.
    /// Against a paced endpoint the window is read in one sequence; against a cks core (no quota) in a few time slices
    /// read side by side. Either way the request count follows the events in the window, not the keys.
    func trailCalls(on keyIds: Set<String>, from: Date, to: Date, refusalsOnly: Bool = false,
                    progress: @escaping @Sendable (_ requests: Int, _ events: Int) -> Void = { _, _ in })
        async throws(TeardownCallError) -> (calls: [String: [TrailCall]], requests: Int, read: Int) {
        // An empty window (an observation that began this very second) has no events: nothing to ask.
        guard to > from else { return ([:], 0, 0) }
        let trail = cloudTrailClient()
        let slices = isPaced || to.timeIntervalSince(from) < 3_600 ? 1 : 4
        let span = to.timeIntervalSince(from) / Double(slices)
        // Reported under the lock: the slices answer side by side, and the totals must reach `progress` in order.
        let sofar = Mutex((requests: 0, events: 0))
        let onPage: @Sendable (Int) -> Void = { events in
            sofar.withLock { total in
                total.requests += 1
                total.events += events
                progress(total.requests, total.events)
            }
        }
        let ranges = (0..<slices).map { i in
            (from.addingTimeInterval(Double(i) * span), i == slices - 1 ? to : from.addingTimeInterval(Double(i + 1) * span))
        }
        let results = await BoundedConcurrency.map(ranges.indices.map { $0 }, width: slices, onResult: { _ in }, notRun: { _ in
            SliceResult(error: TeardownCallError(typeName: "Cancelled", message: "the pass ended early"))
        }) { index in
            await Self.readSlice(trail, keyIds: keyIds, from: ranges[index].0, to: ranges[index].1,
                                 inclusiveEnd: index == slices - 1, refusalsOnly: refusalsOnly, onPage: onPage)
        }
        var calls: [String: [TrailCall]] = [:]
        var requests = 0, read = 0
        for r in results {
            if let error = r.error { throw error }
            requests += r.requests
            read += r.read
            for (k, v) in r.calls { calls[k, default: []] += v }
        }
        return (calls, requests, read)
    }

    struct SliceResult: Sendable {
        var calls: [String: [TrailCall]] = [:]
        var requests = 0
        var read = 0
        var error: TeardownCallError?
    }

    struct RecordFields: Decodable {
        struct Identity: Decodable { var arn: String?; var userName: String? }
        struct Parameters: Decodable { var keyId: String? }
        var errorCode: String?
        var userIdentity: Identity?
        var requestParameters: Parameters?
    }

    static func readSlice(_ trail: CloudTrailClient, keyIds: Set<String>, from: Date, to: Date, inclusiveEnd: Bool,
                          refusalsOnly: Bool, onPage: @Sendable (Int) -> Void) async -> SliceResult {
        var result = SliceResult()
        var request = LookupEventsRequest(
            lookupAttributes: [LookupAttribute(attributeKey: "EventSource", attributeValue: "kms.amazonaws.com")],
            startTime: from, endTime: to, maxResults: 50)
        let decoder = JSONDecoder()
        var seen: Set<String> = []
        while true {
            let page: LookupEventsResponse
            do { page = try await trail.lookupEvents(request) } catch {
                result.error = TeardownCallError(typeName: error.typeName, message: error.message, isTransport: !error.isServiceError)
                return result
            }
            result.requests += 1
            onPage(page.events?.count ?? 0)
            for event in page.events ?? [] {
                result.read += 1
                guard let name = event.eventName, cryptographicOperations.contains(name), let time = event.eventTime else { continue }
                // Slices share their boundary instant: it belongs to the later slice.
                if !inclusiveEnd, time >= to { continue }
                var keyId = (event.resources ?? []).lazy.compactMap { r in r.resourceName.flatMap(Self.keyId(fromArn:)) }
                    .first { keyIds.contains($0) }
                guard keyId != nil || (event.resources ?? []).isEmpty else { continue }
                guard let text = event.cloudTrailEvent,
                      let fields = try? decoder.decode(RecordFields.self, from: Data(text.utf8)) else { continue }
                if keyId == nil, let p = fields.requestParameters?.keyId {
                    let id = Self.keyId(fromArn: p) ?? p
                    if keyIds.contains(id) { keyId = id }
                }
                guard let keyId, !refusalsOnly || fields.errorCode != nil else { continue }
                if let id = event.eventId, !seen.insert(id).inserted { continue }
                let caller = fields.userIdentity?.arn ?? event.username ?? fields.userIdentity?.userName ?? "unknown caller"
                result.calls[keyId, default: []].append(TrailCall(time: time, operation: name, caller: caller,
                                                                  errorCode: fields.errorCode))
            }
            guard let token = page.nextToken, !token.isEmpty else { return result }
            request.nextToken = token
        }
    }

    /// `1234abcd-…` from `arn:aws:kms:us-east-1:111122223333:key/1234abcd-…`.
    static func keyId(fromArn arn: String) -> String? {
        guard arn.hasPrefix("arn:"), let range = arn.range(of: ":key/") else { return nil }
        return String(arn[range.upperBound...])
    }

    public func observe(_ keyIds: [String], disable: Set<String>, mark: ObservationMark, teardownId: String,
                        progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        await perKeyCall(keyIds, progress: progress) { [client] id throws(KMSClientError) in
            // Marked first: a key disabled without its mark would not be re-enabled by an abort.
            var tags = [Tag(tagKey: ObservationMark.windowTag, tagValue: mark.windowTagValue)]
            if disable.contains(id) { tags.append(Tag(tagKey: ObservationMark.teardownTag, tagValue: teardownId)) }
            try await client.tagResource(keyId: id, tags: tags)
            guard disable.contains(id) else { return TeardownCallResult(target: id) }
            let (_, meta) = try await client.sendWithMetadata(DisableKeyRequest(keyId: id))
            return TeardownCallResult(target: id, requestId: meta.requestId)
        }
    }

    public func endObservation(enable: [String], unmark: [String],
                               progress: @escaping @Sendable (TeardownCallResult) -> Void) async -> [TeardownCallResult] {
        let enableSet = Set(enable)
        let all = enable + unmark.filter { !enableSet.contains($0) }
        return await perKeyCall(all, progress: progress) { [client] id throws(KMSClientError) in
            var requestId: String?
            if enableSet.contains(id) {
                requestId = try await client.sendWithMetadata(EnableKeyRequest(keyId: id)).1.requestId
            }
            try await client.untagResource(keyId: id, tagKeys: [ObservationMark.windowTag, ObservationMark.teardownTag])
            return TeardownCallResult(target: id, requestId: requestId)
        }
    }

    /// The observation marks of keys (ListResourceTags), for the keys that can carry them (Disabled).
    func observationMarks(_ keyIds: [String]) async -> [String: ObservationMark] {
        guard !keyIds.isEmpty else { return [:] }
        let results = await client.bulk(keyIds, concurrency: concurrency) { [client] (id: String) throws(KMSClientError) -> ObservationMark? in
            let tags = try await client.allResourceTags(keyId: id)
            return ObservationMark(tags: Dictionary(tags.map { ($0.tagKey, $0.tagValue) }, uniquingKeysWith: { a, _ in a }))
        }
        return Dictionary(results.compactMap { r in r.value.flatMap { $0 }.map { (r.id, $0) } }, uniquingKeysWith: { a, _ in a })
    }
}
