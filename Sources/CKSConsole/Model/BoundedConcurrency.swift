/// Many calls, a few at a time: the console's bulk actions, re-describes and the teardown's per-key calls.
enum BoundedConcurrency {
    /// Runs `body` for every item with at most `width` in flight and returns the results in the order of `items`;
    /// `onResult` hears each one as it arrives.
    ///
    /// The results live inside the task group's body and no nested function captures the group: written the other
    /// way, release builds crashed in the group's hand-off of a child's result (SIGSEGV in the console's
    /// re-describe, SIGILL in `KMSClient.bulk`).
    static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], width: Int, onResult: (Result) -> Void = { _ in },
        _ body: @escaping @Sendable (Item) async -> Result
    ) async -> [Result] {
        await withTaskGroup(of: (Int, Result).self, returning: [Result].self) { group in
            var results = [Result?](repeating: nil, count: items.count)
            var next = 0
            while next < min(max(1, width), items.count) {
                let (index, item) = (next, items[next])
                group.addTask { (index, await body(item)) }
                next += 1
            }
            while let (index, result) = await group.next() {
                results[index] = result
                onResult(result)
                if next < items.count {
                    let (index, item) = (next, items[next])
                    group.addTask { (index, await body(item)) }
                    next += 1
                }
            }
            return results.compactMap { $0 }
        }
    }
}
