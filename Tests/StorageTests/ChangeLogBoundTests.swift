import Testing

@testable import Storage

/// When a reader of the change log takes its bound again (``ChangeLogBound``), without a database: the statements
/// are stood in for by scripted answers.
@Suite struct ChangeLogBoundTests {
    /// Answers in turn, counting the statements taken.
    final class Script {
        var answers: [(answer: Int, retake: Bool)]
        var taken = 0
        init(_ answers: [(Int, Bool)]) { self.answers = answers.map { (answer: $0.0, retake: $0.1) } }
        func next() -> (answer: Int, retake: Bool) {
            taken += 1
            return answers.removeFirst()
        }
    }

    @Test func aBoundWhoseHolderWasRunningIsTakenOnce() async throws {
        let script = Script([(7, false), (8, false)])
        #expect(try await ChangeLogBound.reading { script.next() } == 7)
        #expect(script.taken == 1)
    }

    @Test func aBoundWhoseHolderHadEndedIsTakenAgainUntilOneWasRunning() async throws {
        let script = Script([(1, true), (2, true), (3, false), (4, false)])
        #expect(try await ChangeLogBound.reading { script.next() } == 3)
        #expect(script.taken == 3)
    }

    @Test func theRetakesStopAtFourStatementsWithTheLastAnswer() async throws {
        let script = Script([(1, true), (2, true), (3, true), (4, true), (5, true)])
        #expect(try await ChangeLogBound.reading { script.next() } == 4)
        #expect(script.taken == 4)
    }
}
