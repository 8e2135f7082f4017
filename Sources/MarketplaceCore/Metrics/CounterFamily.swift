import CoreMetrics
import Synchronization

/// One counter label whose counters, one per set of dimension values, are made once: making a counter asks the
/// metrics factory, which looks it up in its registry under a lock — on a hot path, once per request.
public final class CounterFamily: Sendable {
    let label: String
    let dimensions: [String]
    /// nil: the process's bootstrapped factory.
    let factory: (any MetricsFactory)?
    let made = Mutex<[[String]: Counter]>([:])

    public init(label: String, dimensions: [String], factory: (any MetricsFactory)? = nil) {
        self.label = label
        self.dimensions = dimensions
        self.factory = factory
    }

    /// The counter of these dimension values, in the order of `dimensions`.
    public func counter(_ values: [String]) -> Counter {
        precondition(values.count == dimensions.count, "\(label) has \(dimensions.count) dimensions")
        if let counter = made.withLock({ $0[values] }) { return counter }
        let pairs = Array(zip(dimensions, values))
        let counter = factory.map { Counter(label: label, dimensions: pairs, factory: $0) } ?? Counter(label: label, dimensions: pairs)
        return made.withLock { made in
            if let existing = made[values] { return existing }
            made[values] = counter
            return counter
        }
    }

    public func increment(_ values: String..., by amount: Int = 1) {
        counter(values).increment(by: amount)
    }
}
