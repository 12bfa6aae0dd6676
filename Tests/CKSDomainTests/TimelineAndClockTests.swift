import CKSDomain
import Foundation
import Synchronization
import Testing

/// A wall clock tests move by hand.
final class ManualWall: Sendable {
    let seconds: Mutex<Double>
    init(_ start: Double) { seconds = Mutex(start) }
    func advance(_ s: Double) { seconds.withLock { $0 += s } }
    var now: Date { Date(timeIntervalSince1970: seconds.withLock { $0 }) }
}

@Suite("Time-derived store transitions")
struct TimelineTests {
    let t0 = Date(timeIntervalSince1970: 2_000_000_000)

    @Test("CONNECTING becomes CONNECTED at settlesAt, entered at settlesAt")
    func connects() {
        let c = StoreConnection.connecting(at: t0, duration: 1200, outcome: nil)
        #expect(c.state(at: t0) == .connecting)
        #expect(c.state(at: t0.addingTimeInterval(1199.999)) == .connecting)
        let done = c.resolved(at: t0.addingTimeInterval(5000))
        #expect(done.state == .connected)
        #expect(done.changedAt == t0.addingTimeInterval(1200))
        #expect(done.errorCode == nil)
    }

    @Test("a failing attempt ends FAILED with its ConnectionErrorCode", arguments: [ConnectionErrorCode.invalidCredentials, .networkErrors, .clusterNotFound])
    func fails(code: ConnectionErrorCode) {
        let c = StoreConnection.connecting(at: t0, duration: 60, outcome: code)
        #expect(c.state(at: t0.addingTimeInterval(30)) == .connecting)
        #expect(c.resolved(at: t0.addingTimeInterval(30)).errorCode == nil)
        let done = c.resolved(at: t0.addingTimeInterval(60))
        #expect(done.state == .failed)
        #expect(done.errorCode == code)
        // FAILED does not move by itself.
        #expect(done.resolved(at: t0.addingTimeInterval(1e9)) == done)
    }

    @Test("DISCONNECTING becomes DISCONNECTED")
    func disconnects() {
        let c = StoreConnection.disconnecting(at: t0, duration: 30)
        #expect(c.state(at: t0.addingTimeInterval(29)) == .disconnecting)
        #expect(c.state(at: t0.addingTimeInterval(30)) == .disconnected)
    }

    @Test("zero durations settle at once")
    func instant() {
        #expect(StoreConnection.connecting(at: t0, duration: 0, outcome: nil).state == .connected)
        #expect(StoreConnection.disconnecting(at: t0, duration: 0).state == .disconnected)
    }

    @Test("settled states never change by themselves", arguments: [ConnectionState.connected, .disconnected, .failed])
    func stable(state: ConnectionState) {
        let c = StoreConnection(state: state, errorCode: state == .failed ? .internalError : nil, changedAt: t0)
        #expect(c.resolved(at: t0.addingTimeInterval(1e8)) == c)
    }

    @Test("the record survives a Codable round trip (as persistence stores it)")
    func codable() throws {
        let c = StoreConnection.connecting(at: t0, duration: 10, outcome: .userLockedOut)
        let back = try JSONDecoder().decode(StoreConnection.self, from: JSONEncoder().encode(c))
        #expect(back == c)
    }
}

@Suite("Simulated clock")
struct ClockTests {
    @Test("now = wall × scale + offset")
    func formula() {
        let wall = ManualWall(1000)
        let clock = SimulatedClock(timeScale: 2, offset: 50, wall: { wall.now })
        #expect(clock.now().timeIntervalSince1970 == 2050)
        wall.advance(10)
        #expect(clock.now().timeIntervalSince1970 == 2070)
    }

    @Test("a fresh clock starts at wall time whatever the scale, then runs scale times faster")
    func fresh() {
        let wall = ManualWall(1_700_000_000)
        let clock = SimulatedClock.fresh(timeScale: 60, wall: { wall.now })
        #expect(abs(clock.now().timeIntervalSince1970 - 1_700_000_000) < 1e-3)
        wall.advance(1)
        #expect(abs(clock.now().timeIntervalSince1970 - 1_700_000_060) < 1e-3)
    }

    @Test("rebasing to another scale keeps simulated time continuous")
    func rebase() {
        let wall = ManualWall(1_700_000_000)
        var clock = SimulatedClock(timeScale: 1, offset: 3600, wall: { wall.now })
        let before = clock.now()
        clock = clock.rebased(toScale: 10)
        #expect(abs(clock.now().timeIntervalSince(before)) < 1e-3)
        wall.advance(2)
        #expect(abs(clock.now().timeIntervalSince(before) - 20) < 1e-3)
    }

    @Test("AdvanceClock only moves forward", arguments: [(0.0, true), (1, true), (86_400 * 31, true), (-1, false), (.nan, false), (.infinity, false), (1e12, false)])
    func advance(seconds: Double, valid: Bool) {
        #expect(((try? SimulatedClock.validateAdvance(seconds, from: Date(timeIntervalSince1970: 1_800_000_000))) != nil) == valid)
    }

    @Test("AdvanceClock never moves past 9999-12-01, however many calls")
    func advanceTotal() {
        let end = SimulatedClock.servableRange.upperBound
        #expect((try? SimulatedClock.validateAdvance(100, from: Date(timeIntervalSince1970: end - 100))) != nil)
        #expect((try? SimulatedClock.validateAdvance(101, from: Date(timeIntervalSince1970: end - 100))) == nil)
        #expect((try? SimulatedClock.validateAdvance(1, from: Date(timeIntervalSince1970: end))) == nil)
    }

    @Test("time scales: a thousandth to a simulated day per second", arguments: [
        (1.0, true), (0.001, true), (0.5, true), (86_400, true), (0.0009, false), (86_401, false), (0, false),
        (-1, false), (1e12, false), (.nan, false), (.infinity, false),
    ])
    func timeScale(scale: Double, valid: Bool) {
        #expect((SimulatedClock.problem(withTimeScale: scale) == nil) == valid)
    }

    @Test("a running clock stops at the end of the servable range; a stored one outside it is not servable")
    func bounds() {
        let wall = ManualWall(1_800_000_000)
        let clock = SimulatedClock(timeScale: 86_400, offset: 253_399_622_000 - 1_800_000_000 * 86_400, wall: { wall.now })
        #expect(clock.isServable)
        wall.advance(10)
        #expect(clock.now().timeIntervalSince1970 == SimulatedClock.servableRange.upperBound)
        #expect(!clock.isServable)
        #expect(!SimulatedClock(timeScale: 1, offset: .nan, wall: { wall.now }).isServable)
        #expect(!SimulatedClock(timeScale: 1, offset: -.infinity, wall: { wall.now }).isServable)
        #expect(SimulatedClock.describe(1e15).hasPrefix("the year 3169"))
    }

    @Test("dates are rounded to milliseconds")
    func millis() {
        #expect(Date(timeIntervalSince1970: 1537582718.4314).kmsEpochSeconds == 1537582718.431)
    }
}

@Suite("Identifiers and references")
struct IdentifierTests {
    let scope = ResourceScope(account: "111122223333", region: "us-east-1")

    @Test("store ids are cks- and 17 lowercase hex digits")
    func storeIds() {
        for _ in 0..<200 {
            let id = CustomKeyStoreIdentifiers.newId()
            #expect(CustomKeyStoreIdentifiers.isWellFormed(id), "\(id)")
        }
        #expect(CustomKeyStoreIdentifiers.isWellFormed("cks-5ebd4ef395a96288e"))
        #expect(!CustomKeyStoreIdentifiers.isWellFormed("cks-5EBD4EF395A96288E"))
        #expect(!CustomKeyStoreIdentifiers.isWellFormed("cks-5ebd4ef395a96288"))
    }

    @Test("cluster ids match the model's pattern")
    func clusterIds() throws {
        let regex = try Regex("^cluster-[2-7a-zA-Z]{11,16}$")
        for _ in 0..<100 { #expect(HsmCluster.newId().wholeMatch(of: regex) != nil) }
    }

    @Test("KeyId parsing", arguments: [
        ("1234abcd-12ab-34cd-56ef-1234567890ab", KeyReference?.some(.keyId("1234abcd-12ab-34cd-56ef-1234567890ab"))),
        ("arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", .some(.keyId("1234abcd-12ab-34cd-56ef-1234567890ab"))),
        ("alias/app", .some(.alias("alias/app"))),
        ("arn:aws:kms:us-east-1:111122223333:alias/app", .some(.alias("alias/app"))),
        ("arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab", nil),
        ("arn:aws:kms:us-east-1:444455556666:key/1234abcd-12ab-34cd-56ef-1234567890ab", nil),
        ("fake-key-id", nil), ("alias/", nil), ("alias/bad name", nil), ("arn:aws:kms:us-east-1:111122223333:key/nope", nil), ("", nil),
    ])
    func parse(raw: String, expected: KeyReference?) {
        #expect(KeyReference.parse(raw, in: scope) == expected)
    }

    @Test("alias names for CreateAlias")
    func aliases() {
        #expect((try? AliasRules.checkCreatable("alias/my-app_1/x")) != nil)
        for bad in ["app", "alias/", "alias/aws/ebs", "alias/has space", "alias/é"] {
            do { try AliasRules.checkCreatable(bad); Issue.record("\(bad) accepted") } catch { #expect(error.code == .invalidAliasName) }
        }
    }
}
