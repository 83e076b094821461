/// Deadlines of keys with a TTL, earliest first (a binary min-heap), for the active sweep.
///
/// Entries are never updated in place: a key whose TTL changes gets a new entry, and the
/// old one is recognised as stale when it comes due (its deadline no longer matches the
/// key's). ``KeyStore`` rebuilds the queue when stale entries pile up.
struct ExpiryQueue {
    typealias Instant = ContinuousClock.Instant

    struct Item {
        var deadline: Instant
        var key: String
    }

    private var heap: [Item] = []

    var count: Int { heap.count }

    /// Records that `key` expires at `deadline`.
    mutating func insert(_ key: String, at deadline: Instant) {
        heap.append(Item(deadline: deadline, key: key))
        siftUp(heap.count - 1)
    }

    /// Removes and returns the earliest item if its deadline has passed at `now`.
    mutating func popExpired(at now: Instant) -> Item? {
        guard let first = heap.first, now > first.deadline else { return nil }
        let last = heap.removeLast()
        if !heap.isEmpty {
            heap[0] = last
            siftDown(0)
        }
        return first
    }

    /// Replaces the contents with `items` (used to drop stale entries).
    mutating func rebuild(_ items: [Item]) {
        heap = items
        var index = heap.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    private mutating func siftUp(_ index: Int) {
        var child = index
        while child > 0 {
            let parent = (child - 1) / 2
            guard heap[child].deadline < heap[parent].deadline else { return }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ index: Int) {
        var parent = index
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < heap.count, heap[left].deadline < heap[smallest].deadline { smallest = left }
            if right < heap.count, heap[right].deadline < heap[smallest].deadline { smallest = right }
            guard smallest != parent else { return }
            heap.swapAt(parent, smallest)
            parent = smallest
        }
    }
}
