import Synchronization

/// Reads of one key that arrive while a read of it is in flight wait for the next read, and share it. That read
/// starts after all of them asked, so each caller gets what a read of its own would have given (every write that
/// committed before it asked is seen), at one read per round trip however many callers there are.
/// With no contention each call reads on its own, as before.
public final class CoalescedReads<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    enum Turn: Sendable {
        case done(Result<Value, any Error>)
        /// This caller reads for everyone who waits when it starts.
        case lead
    }

    struct Slot {
        var waiting: [CheckedContinuation<Turn, Never>] = []
    }

    /// A key has a slot while a read of it runs; its callers wait in it for the next read.
    let slots = Mutex<[Key: Slot]>([:])

    public init() {}

    /// How many callers wait for the next read of `key` (for metrics and tests).
    public func waiting(for key: Key) -> Int {
        slots.withLock { $0[key]?.waiting.count ?? 0 }
    }

    public func read(_ key: Key, _ body: (Key) async throws -> Value) async throws -> Value {
        let turn = await withCheckedContinuation { (continuation: CheckedContinuation<Turn, Never>) in
            let leads = slots.withLock { slots -> Bool in
                if slots[key] == nil {
                    slots[key] = Slot()
                    return true
                }
                slots[key]!.waiting.append(continuation)
                return false
            }
            if leads { continuation.resume(returning: .lead) }
        }
        if case .done(let result) = turn { return try result.get() }
        // Everyone waiting now asked before this read starts: it answers them all.
        let batch = slots.withLock { slots in
            defer { slots[key]!.waiting.removeAll() }
            return slots[key]!.waiting
        }
        let result: Result<Value, any Error>
        do { result = .success(try await body(key)) } catch { result = .failure(error) }
        // Those who asked while it ran need a read that started after them: the first of them leads the next one.
        let next = slots.withLock { slots -> CheckedContinuation<Turn, Never>? in
            if slots[key]!.waiting.isEmpty {
                slots[key] = nil
                return nil
            }
            return slots[key]!.waiting.removeFirst()
        }
        for waiter in batch { waiter.resume(returning: .done(result)) }
        next?.resume(returning: .lead)
        return try result.get()
    }
}
