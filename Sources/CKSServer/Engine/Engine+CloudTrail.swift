import CKSDomain
import CKSPersistence
import CKSWire
import Foundation

/// CloudTrail's LookupEvents over the use record: the management events of `kms.amazonaws.com` of the caller's
/// account and region, newest first, within the 90-day window.
extension KMSEngine {
    static let eventSource = "kms.amazonaws.com"

    /// The route: MaxResults outside 1–50 is CloudTrail's InvalidMaxResultsException, not a validation error.
    static func lookupEventsRoute() -> (String, Handler) {
        (LookupEventsRequest.target, { engine, parsed, caller in
            if case let .number(text)? = parsed["MaxResults"], let n = Int(text), !(1...50).contains(n) {
                throw KMSError(.invalidMaxResults, "MaxResults must be between 1 and 50 (got \(n)).")
            }
            let request = try WireCodec.decodeRequest(LookupEventsRequest.self, from: parsed)
            return WireCodec.encodeResponse(try await engine.lookupEvents(request, caller.scope))
        })
    }

    func lookupEvents(_ r: LookupEventsRequest, _ scope: ResourceScope) async throws -> LookupEventsResponse {
        if r.eventCategory != nil {
            throw KMSError(.invalidEventCategory, "This endpoint (cks) records management events only: leave EventCategory out.")
        }
        let attributes = r.lookupAttributes ?? []
        if attributes.count > 1 {
            throw KMSError(.invalidLookupAttributes, "You can specify only one lookup attribute.")
        }
        let now = self.now()
        let end = r.endTime ?? now
        let start = r.startTime ?? now.addingTimeInterval(-KeyEventRules.retention)
        if start > end {
            throw KMSError(.invalidTimeRange, "The StartTime must be earlier than the EndTime.")
        }
        let after = try r.nextToken.map(Self.decodeEventToken)
        let limit = r.maxResults ?? 50
        // Read-your-writes: every event of a call answered before this one is folded into the database first.
        await recorder?.flush()
        return try await read { db, now in
            var filter = KeyEventFilter.none
            if let attribute = attributes.first {
                guard let resolved = try Self.filter(attribute, scope, db, now) else {
                    return LookupEventsResponse(events: [], nextToken: nil)
                }
                filter = resolved
            }
            let page = try db.events(in: scope, filter: filter, start: start, end: end, after: after, limit: limit)
            return LookupEventsResponse(events: page.events.map(Self.trailEvent),
                                        nextToken: page.next.map(Self.encodeEventToken))
        }
    }

    /// The filter for one lookup attribute; nil when nothing can match (another event source, resource type...).
    static func filter(_ a: LookupAttribute, _ scope: ResourceScope, _ db: DataReader, _ now: Date) throws -> KeyEventFilter? {
        let value = a.attributeValue
        switch a.attributeKey {
        case "EventName": return .operation(value)
        case "Username": return .username(value)
        case "EventId": return .eventId(value)
        case "AccessKeyId": return .accessKeyId(value)
        case "ReadOnly":
            guard value == "true" || value == "false" else {
                throw KMSError(.invalidLookupAttributes, "ReadOnly must be true or false.")
            }
            return .readOnly(value == "true")
        case "EventSource": return value == eventSource ? KeyEventFilter.none : nil
        case "ResourceType": return value == "AWS::KMS::Key" ? KeyEventFilter.none : nil
        case "ResourceName":
            switch KeyReference.parse(value, in: scope) {
            case .keyId(let id)?: return .keyId(id.lowercased())
            case .alias(let name)?: return try db.alias(named: name, in: scope).map { .keyId($0.targetKeyId) }
            case nil: return nil
            }
        default:
            throw KMSError(.invalidLookupAttributes, "Lookup attribute \(a.attributeKey) is not supported.")
        }
    }

    static func encodeEventToken(_ p: KeyEventPosition) -> String {
        Data("cks-ct1:\(p.time.bitPattern):\(p.seq)".utf8).base64EncodedString()
    }

    static func decodeEventToken(_ token: String) throws -> KeyEventPosition {
        let invalid = KMSError(.invalidNextToken, "Invalid NextToken: pass the NextToken of the previous LookupEvents answer unchanged.")
        guard let data = Data(base64Encoded: token), let text = String(data: data, encoding: .utf8) else { throw invalid }
        let parts = text.split(separator: ":")
        guard parts.count == 3, parts[0] == "cks-ct1", let bits = UInt64(parts[1]), let seq = Int64(parts[2]) else { throw invalid }
        return KeyEventPosition(time: Double(bitPattern: bits), seq: seq)
    }

    /// An event as LookupEvents returns it, its full record in `CloudTrailEvent` (a JSON string).
    static func trailEvent(_ e: KeyEvent) -> TrailEvent {
        TrailEvent(eventId: e.eventId, eventName: e.operation, readOnly: e.readOnly ? "true" : "false",
                   accessKeyId: e.accessKeyId, eventTime: e.time, eventSource: eventSource, username: e.username,
                   resources: e.keyArn.map { [TrailResource(resourceType: "AWS::KMS::Key", resourceName: $0)] } ?? [],
                   cloudTrailEvent: cloudTrailEvent(e).serialized)
    }

    static let isoSeconds = Date.ISO8601FormatStyle(includingFractionalSeconds: false)

    /// The CloudTrail record (eventVersion 1.08 fields). `additionalEventData.authorizedBy` says what let the call
    /// through: `grant:<id>`, `principals-file`, or `denied`.
    static func cloudTrailEvent(_ e: KeyEvent) -> JSONValue {
        let isRole = e.principalArn.contains(":role/") || e.principalArn.contains(":assumed-role/")
        var identity: [(String, JSONValue)] = [
            ("type", .string(isRole ? "AssumedRole" : "IAMUser")),
            ("principalId", .string(e.username)),
            ("arn", .string(e.principalArn)),
            ("accountId", .string(e.scope.account)),
        ]
        if let key = e.accessKeyId { identity.append(("accessKeyId", .string(key))) }
        identity.append(("userName", .string(e.username)))
        var parameters: [(String, JSONValue)] = []
        if let p = e.keyParameter ?? e.keyArn { parameters.append(("keyId", .string(p))) }
        var members: [(String, JSONValue)] = [
            ("eventVersion", .string("1.08")),
            ("userIdentity", .object(identity)),
            ("eventTime", .string(e.time.formatted(isoSeconds))),
            ("eventSource", .string(eventSource)),
            ("eventName", .string(e.operation)),
            ("awsRegion", .string(e.scope.region)),
            ("sourceIPAddress", .string("127.0.0.1")),
            ("userAgent", .string("cks")),
        ]
        if let code = e.errorCode {
            members.append(("errorCode", .string(code)))
            members.append(("errorMessage", .string(e.errorMessage ?? "")))
        }
        members += [
            ("requestParameters", .object(parameters)),
            ("responseElements", .null),
            ("additionalEventData", .object([("authorizedBy", .string(e.source))])),
            ("requestID", .string(e.requestId)),
            ("eventID", .string(e.eventId)),
            ("readOnly", .bool(e.readOnly)),
            ("resources", .array(e.keyArn.map { arn in
                [.object([("accountId", .string(e.scope.account)), ("type", .string("AWS::KMS::Key")),
                          ("ARN", .string(arn))])]
            } ?? [])),
            ("eventType", .string("AwsApiCall")),
            ("managementEvent", .bool(true)),
            ("recipientAccountId", .string(e.scope.account)),
            ("eventCategory", .string("Management")),
        ]
        return .object(members)
    }
}
