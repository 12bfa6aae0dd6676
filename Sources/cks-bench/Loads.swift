import CKSDomain
import Foundation

/// The request sets of each workload, built right before each run (a SigV4 signature is valid for ±5 minutes).
enum Loads {
    static func keyBody(_ id: String, extra: String = "") -> String {
        "{\"KeyId\":\(RequestFactory.json(id))\(extra)}"
    }

    /// DescribeKey over a fixed sample of the estate's keys (at most 1,000, spread over the whole estate).
    static func describeKey(_ f: RequestFactory, sample ids: [String]) -> WrkLoad {
        let date = Date()
        return .rotate(ids.map { f.make("TrentService.DescribeKey", keyBody($0), date: date) })
    }

    /// ListKeys Limit 100, starting at pages spread over the estate (the first page included).
    static func listKeys(_ f: RequestFactory, markers: [String?]) -> WrkLoad {
        let date = Date()
        return .rotate(markers.map { marker in
            let body = marker.map { "{\"Limit\":100,\"Marker\":\(RequestFactory.json($0))}" } ?? "{\"Limit\":100}"
            return f.make("TrentService.ListKeys", body, date: date)
        })
    }

    static func createKey(_ f: RequestFactory, body: String = "{\"Description\":\"cks-bench\"}") -> WrkLoad {
        .rotate([f.make("TrentService.CreateKey", body)])
    }

    static func describeCustomKeyStores(_ f: RequestFactory) -> WrkLoad {
        .rotate([f.make("TrentService.DescribeCustomKeyStores", "{}")])
    }

    /// ScheduleKeyDeletion (7 days) then CancelKeyDeletion of the same key, keys cycling through the pool.
    static func scheduleCancel(_ f: RequestFactory, keys ids: [String]) -> WrkLoad {
        let date = Date()
        return .pairs(ids.map { id in
            (id: id,
             schedule: f.make("TrentService.ScheduleKeyDeletion", keyBody(id, extra: ",\"PendingWindowInDays\":7"), date: date),
             cancel: f.make("TrentService.CancelKeyDeletion", keyBody(id), date: date))
        })
    }

    /// The fixed request sent to the nginx ceiling: the same shape and size as a DescribeKey.
    static func ceiling(_ f: RequestFactory) -> WrkLoad {
        .rotate([f.make("TrentService.DescribeKey", keyBody("1234abcd-12ab-34cd-56ef-1234567890ab"))])
    }

    /// `count` items spread evenly over `items` (all of them when there are fewer).
    static func spread<T>(_ items: [T], count: Int) -> [T] {
        guard items.count > count, count > 0 else { return items }
        return (0..<count).map { items[$0 * items.count / count] }
    }

    /// `count` items drawn at random (deterministically) from `items`.
    static func sample<T>(_ items: [T], count: Int, seed: UInt64 = 6) -> [T] {
        var rng = SplitMix64(seed: seed)
        guard items.count > count else { return items.shuffled(using: &rng) }
        return Array(items.shuffled(using: &rng).prefix(count))
    }
}
