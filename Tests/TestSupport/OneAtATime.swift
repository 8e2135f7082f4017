/// Tests that start whole clusters of processes (fault floods, crashes, the chaos slice) take turns: together they
/// would load two cores enough to slow every other test running beside them past its waits.
public actor OneAtATime {
    public static let processFaults = OneAtATime()

    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public func run<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
        if busy {
            await withCheckedContinuation { waiting.append($0) }
        } else {
            busy = true
        }
        defer { next() }
        return try await body()
    }

    private func next() {
        if waiting.isEmpty { busy = false } else { waiting.removeFirst().resume() }
    }
}
