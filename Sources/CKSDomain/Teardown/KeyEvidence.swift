import Foundation

/// Why a key needs the operator's acknowledgement before its deletion is scheduled. Each reason is acknowledged on its
/// own: naming one never covers another (the scripted verb's `--acknowledge-reason` takes these names).
public enum EvidenceReason: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    /// A successful cryptographic call in the look-back window (CloudTrail), or GetKeyLastUsage within 30 days.
    case used
    /// A refused call (DisabledException, KMSInvalidStateException, AccessDeniedException...) in the look-back window.
    case refused
    /// A grant lets another principal (or an AWS service) use the key.
    case grants
    /// The key policy names a principal other than the account's root.
    case policy
    /// Whether the key was used cannot be told (CloudTrail unreachable or denied, GetKeyLastUsage silent).
    case unknown
    /// This teardown scheduled the key's deletion and someone cancelled it.
    case cancelled
    /// A call was refused while the teardown was observing the disabled keys.
    case observed

    /// The reasons `--acknowledge-flagged` covered before evidence existed; it keeps covering exactly these.
    public static let flaggedBeforeEvidence: Set<EvidenceReason> = [.used, .unknown, .cancelled]

    public static func < (a: Self, b: Self) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }

    /// The acknowledgement kind that clears this reason.
    public var acknowledgementKind: TeardownAcknowledgement.Kind {
        switch self {
        case .used: return .keyInUse
        case .refused: return .keyRefused
        case .grants: return .keyGrants
        case .policy: return .keyPolicy
        case .unknown: return .keyUseUnknown
        case .cancelled: return .rescheduleCancelledKey
        case .observed: return .refusedWhileObserved
        }
    }

    /// Parses `used,grants` (the scripted verb's list); nil names the first word that is not a reason.
    public static func parseList(_ text: String) -> Result<Set<EvidenceReason>, InvalidReason> {
        var result: Set<EvidenceReason> = []
        for word in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !word.isEmpty {
            guard let reason = EvidenceReason(rawValue: word) else { return .failure(InvalidReason(word: word)) }
            result.insert(reason)
        }
        return .success(result)
    }

    public struct InvalidReason: Error, Sendable, Hashable, CustomStringConvertible {
        public var word: String
        public var description: String {
            "'\(word)' is not a reason; the reasons are \(EvidenceReason.allCases.map(\.rawValue).joined(separator: ", "))"
        }
    }
}

/// One call on a key as CloudTrail recorded it.
public struct TrailCall: Sendable, Hashable, Codable {
    public var time: Date
    public var operation: String
    /// The caller's ARN (userIdentity.arn), else its user name.
    public var caller: String
    /// Present when the call was refused (`DisabledException`, ...).
    public var errorCode: String?

    public init(time: Date, operation: String, caller: String, errorCode: String? = nil) {
        self.time = time
        self.operation = operation
        self.caller = caller
        self.errorCode = errorCode
    }

    public var isRefused: Bool { errorCode != nil }
}

/// What CloudTrail says about one key over the look-back window.
public struct TrailSummary: Sendable, Hashable, Codable {
    /// Calls per day of the window, oldest day first (`days` entries): successes and refusals.
    public struct Day: Sendable, Hashable, Codable {
        public var calls: Int
        public var refusals: Int
        public init(calls: Int = 0, refusals: Int = 0) {
            self.calls = calls
            self.refusals = refusals
        }
    }

    public var lookbackDays: Int
    public var uses: Int
    public var refusals: Int
    public var lastUse: TrailCall?
    public var lastRefusal: TrailCall?
    /// Distinct callers of successful calls, sorted.
    public var callers: [String]
    public var daily: [Day]
    /// The newest calls (successes and refusals), newest first, at most `recentLimit`.
    public var recent: [TrailCall]

    public static let recentLimit = 20

    public init(lookbackDays: Int, uses: Int = 0, refusals: Int = 0, lastUse: TrailCall? = nil, lastRefusal: TrailCall? = nil,
                callers: [String] = [], daily: [Day]? = nil, recent: [TrailCall] = []) {
        self.lookbackDays = lookbackDays
        self.uses = uses
        self.refusals = refusals
        self.lastUse = lastUse
        self.lastRefusal = lastRefusal
        self.callers = callers
        self.daily = daily ?? Array(repeating: Day(), count: max(lookbackDays, 1))
        self.recent = recent
    }

    /// Folds calls (any order) into a summary of the window ending at `now`.
    public static func of(_ calls: [TrailCall], lookbackDays: Int, now: Date) -> TrailSummary {
        var s = TrailSummary(lookbackDays: lookbackDays)
        let start = now.addingTimeInterval(-Double(lookbackDays) * 86_400)
        var callers = Set<String>()
        for call in calls.sorted(by: { $0.time > $1.time }) {
            let index = Int(call.time.timeIntervalSince(start) / 86_400)
            let day = min(max(index, 0), s.daily.count - 1)
            s.daily[day].calls += 1
            if call.isRefused {
                s.refusals += 1
                s.daily[day].refusals += 1
                if s.lastRefusal == nil { s.lastRefusal = call }
            } else {
                s.uses += 1
                callers.insert(call.caller)
                if s.lastUse == nil { s.lastUse = call }
            }
            if s.recent.count < recentLimit { s.recent.append(call) }
        }
        s.callers = callers.sorted()
        return s
    }
}

/// Who can use a key and who did: what the teardown shows and flags before a key's deletion is scheduled.
public struct KeyEvidence: Sendable, Hashable, Codable {
    public struct Grant: Sendable, Hashable, Codable {
        public var id: String
        public var name: String?
        public var grantee: String
        public var retiringPrincipal: String?
        public var operations: [String]

        public init(id: String, name: String? = nil, grantee: String, retiringPrincipal: String? = nil, operations: [String]) {
            self.id = id
            self.name = name
            self.grantee = grantee
            self.retiringPrincipal = retiringPrincipal
            self.operations = operations
        }

        /// `ebs` for `ebs.amazonaws.com`: an AWS service, called out by name.
        public var service: String? { KeyEvidence.serviceName(grantee) }
    }

    /// Whether CloudTrail could tell.
    public enum Trail: Sendable, Hashable, Codable {
        case known(TrailSummary)
        case unknown(reason: String)
    }

    /// nil when they could not be listed (`grantsProblem` says why).
    public var grants: [Grant]?
    public var grantsProblem: String?
    /// Principals the key policy allows beyond the account's root; nil when the policy could not be read.
    public var policyPrincipals: [String]?
    public var policyProblem: String?
    public var tags: [String: String]
    public var trail: Trail

    public init(grants: [Grant]? = [], grantsProblem: String? = nil, policyPrincipals: [String]? = [],
                policyProblem: String? = nil, tags: [String: String] = [:], trail: Trail) {
        self.grants = grants
        self.grantsProblem = grantsProblem
        self.policyPrincipals = policyPrincipals
        self.policyProblem = policyProblem
        self.tags = tags
        self.trail = trail
    }

    public var summary: TrailSummary? { if case .known(let s) = trail { return s }; return nil }

    /// AWS services among the grantees and policy principals (`ebs`, `rds`), sorted.
    public var services: [String] {
        Set((grants ?? []).compactMap(\.service) + (policyPrincipals ?? []).compactMap(KeyEvidence.serviceName)).sorted()
    }

    static func serviceName(_ principal: String) -> String? {
        guard principal.hasSuffix(".amazonaws.com") else { return nil }
        return String(principal.dropLast(".amazonaws.com".count))
    }

    /// The principals a key policy allows, beyond the account's root (`arn:aws:iam::ACCOUNT:root` or the bare account
    /// id): Allow statements' `Principal` (`"*"`, `{"AWS": …}`, `{"Service": …}`, `{"Federated": …}`), sorted. nil
    /// when the text is not a policy document.
    public static func policyPrincipals(_ policy: String, account: String?) -> [String]? {
        guard let data = policy.data(using: .utf8),
              let document = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        var statements: [[String: Any]] = []
        if let list = document["Statement"] as? [[String: Any]] { statements = list }
        else if let one = document["Statement"] as? [String: Any] { statements = [one] }
        var found = Set<String>()
        func add(_ value: Any?) {
            if let s = value as? String { found.insert(s) }
            else if let list = value as? [Any] { list.forEach(add) }
        }
        for statement in statements where (statement["Effect"] as? String) == "Allow" {
            if let p = statement["Principal"] as? String { found.insert(p) }
            else if let p = statement["Principal"] as? [String: Any] { p.values.forEach(add) }
        }
        let root: (String) -> Bool = { p in
            if let account, p == account || p == "arn:aws:iam::\(account):root" { return true }
            return p.hasPrefix("arn:aws:iam::") && p.hasSuffix(":root") && account == nil
        }
        return found.filter { !root($0) }.sorted()
    }
}

/// A key the teardown disabled to watch for refused attempts: the marks it leaves on the key itself (tags), so the
/// plan comes from what the endpoint shows, not from the journal.
public struct ObservationMark: Sendable, Hashable, Codable {
    /// Tag on every key the teardown observes: `<from>/<until>` in ISO 8601.
    public static let windowTag = "cks:observe"
    /// Tag on every key the teardown itself disabled (it was Enabled): the teardown's id. Abort re-enables exactly these.
    public static let teardownTag = "cks:teardown"

    public var from: Date
    public var until: Date
    /// The teardown that disabled the key (its `cks:teardown` tag); nil when the key was already Disabled.
    public var disabledBy: String?

    public init(from: Date, until: Date, disabledBy: String? = nil) {
        self.from = from
        self.until = until
        self.disabledBy = disabledBy
    }

    private static let format = Date.ISO8601FormatStyle()

    public var windowTagValue: String { "\(from.formatted(Self.format))/\(until.formatted(Self.format))" }

    /// Reads a key's tags; nil when it carries no (readable) observation window.
    public init?(tags: [String: String]) {
        guard let value = tags[Self.windowTag] else { return nil }
        let parts = value.split(separator: "/").map(String.init)
        guard parts.count == 2, let from = try? Date(parts[0], strategy: .iso8601), let until = try? Date(parts[1], strategy: .iso8601),
              from <= until else { return nil }
        self.init(from: from, until: until, disabledBy: tags[Self.teardownTag])
    }
}

/// A refused call on a key while it was observed, for the plan and the report.
public struct RefusedAttempt: Sendable, Hashable, Codable {
    public var keyId: String
    public var call: TrailCall

    public init(keyId: String, call: TrailCall) {
        self.keyId = keyId
        self.call = call
    }
}
