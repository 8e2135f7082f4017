import MarketplaceCore
import Synchronization
import Testing

/// A value that "commits" change, read by a body that takes its snapshot when it starts and then waits to be let go.
final class GatedStore: Sendable {
    let state = Mutex<(value: Int, reads: Int, gates: [CheckedContinuation<Void, Never>])>((1, 0, []))

    func commit(_ value: Int) { state.withLock { $0.value = value } }
    var reads: Int { state.withLock { $0.reads } }
    var heldReads: Int { state.withLock { $0.gates.count } }

    func read() async -> Int {
        let snapshot = state.withLock { state -> Int in
            state.reads += 1
            return state.value
        }
        await withCheckedContinuation { continuation in state.withLock { $0.gates.append(continuation) } }
        return snapshot
    }

    func releaseOne() {
        let gate = state.withLock { $0.gates.isEmpty ? nil : $0.gates.removeFirst() }
        gate?.resume()
    }
}

/// Polls until `condition` holds; the bound (60 s) is far above what any machine needs, so only a real hang fails.
func eventually(_ condition: () -> Bool) async {
    for _ in 0..<60_000 where !condition() { try? await Task.sleep(for: .milliseconds(1)) }
}

@Suite struct CoalescedReadsTests {
    @Test func uncontendedReadsEachReadOnTheirOwn() async throws {
        let reads = CoalescedReads<String, Int>()
        let count = Mutex(0)
        for expected in 1...3 {
            let value = try await reads.read("k") { _ in count.withLock { $0 += 1; return $0 } }
            #expect(value == expected)
        }
        #expect(count.withLock { $0 } == 3)
        #expect(reads.waiting(for: "k") == 0)
    }

    @Test func aCallerWhoAskedAfterACommitNeverGetsAReadThatStartedBeforeIt() async throws {
        let reads = CoalescedReads<String, Int>()
        let store = GatedStore()
        async let first = reads.read("k") { _ in await store.read() }
        await eventually { store.heldReads == 1 }
        // B asks while the first read (snapshot 1) is in flight; then a write commits; then D asks.
        async let second = reads.read("k") { _ in await store.read() }
        await eventually { reads.waiting(for: "k") == 1 }
        store.commit(2)
        async let fourth = reads.read("k") { _ in await store.read() }
        await eventually { reads.waiting(for: "k") == 2 }
        store.releaseOne()
        #expect(try await first == 1)
        // B and D share the next read, which started after both asked.
        await eventually { store.heldReads == 1 }
        #expect(reads.waiting(for: "k") == 0)
        store.releaseOne()
        #expect(try await second == 2)
        #expect(try await fourth == 2)
        #expect(store.reads == 2)
    }

    @Test func callersWaitingForAFailedReadGetItsErrorAndTheNextCallerReadsAgain() async throws {
        struct Refused: Error, Equatable {}
        let reads = CoalescedReads<Int, Int>()
        let store = GatedStore()
        async let first: Int = reads.read(7) { _ in _ = await store.read(); throw Refused() }
        await eventually { store.heldReads == 1 }
        async let second: Int = reads.read(7) { _ in 99 }
        await eventually { reads.waiting(for: 7) == 1 }
        store.releaseOne()
        let failed: Result<Int, any Error>
        do { failed = .success(try await first) } catch { failed = .failure(error) }
        #expect(throws: Refused.self) { try failed.get() }
        // The second asked while the failed read ran: it leads a read of its own.
        #expect(try await second == 99)
        #expect(try await reads.read(7) { _ in 5 } == 5)
    }
}
