/// Many calls, a few at a time: the client's bulk calls, the console's bulk actions and re-describes, the
/// teardown's per-key calls.
public enum BoundedConcurrency {
    /// Runs `body` for every item with at most `width` in flight and returns the results in the order of `items`;
    /// `onResult` hears each one as it arrives.
    /// - Parameter notRun: the result of an item that never ran (the group ended before it; nil → left out).
    ///
    /// The results live inside the task group's body and no nested function captures the group: written the other
    /// way, release builds crash in the group's hand-off of a child's result.
    public static func map<Item: Sendable, Result: Sendable>(
        _ items: [Item], width: Int, onResult: (Result) -> Void = { _ in }, notRun: ((Item) -> Result)? = nil,
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
            guard let notRun else { return results.compactMap { $0 } }
            return zip(items, results).map { item, result in result ?? notRun(item) }
        }
    }
}
