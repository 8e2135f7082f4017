import Foundation

/// A measured value and how it reads.
struct Quantity: Sendable {
    let value: Double
    let unit: String
    var decimals = 0

    var text: String { String(format: "%.\(decimals)f", value) + (unit.isEmpty ? "" : " " + unit) }

    static func rate(_ value: Double, _ unit: String) -> Quantity { Quantity(value: value, unit: unit) }
    static func milliseconds(_ duration: Duration) -> Quantity {
        Quantity(value: duration / .milliseconds(1), unit: "ms", decimals: 1)
    }
    static func mebibytes(_ bytes: Int) -> Quantity { Quantity(value: Double(bytes) / 1_048_576, unit: "MiB") }
}

/// A row's figure: a quantity (comparable with a ceiling) or a sentence (counts, checks).
enum Figure: Sendable {
    case quantity(Quantity)
    case text(String)

    var text: String {
        switch self {
        case .quantity(let quantity): quantity.text
        case .text(let text): text
        }
    }
}

/// What a figure is measured against: another figure of the same run.
struct Ceiling: Sendable {
    let name: String
    let quantity: Quantity
}

/// What issue 16 asks of a figure.
enum Target: Sendable {
    /// The figure is at least this share of its ceiling, in percent.
    case shareAtLeast(Double)
    /// The figure is at most this multiple of its ceiling (a latency against a baseline latency).
    case timesAtMost(Double)
    /// The figure stays under this value, in its own unit.
    case below(Double)
    /// A target the run cannot check alone (it needs a figure from before), said in words.
    case described(String)

    var text: String {
        switch self {
        case .shareAtLeast(let percent): "≥ \(Int(percent))%"
        case .timesAtMost(let times): "≤ \(times)×"
        case .below(let value): "< \(Int(value))"
        case .described(let words): words
        }
    }
}

/// Where a row goes in the report.
enum Section: Int, Sendable, CaseIterable {
    case http, webhooks, redis, nango, sync, reads, changes, outbound, console, drift, other

    var title: String {
        switch self {
        case .http: "HTTP (wrk on the same machine, sharing the cores with the server)"
        case .webhooks: "Webhook intake (`POST /webhooks/nango`, signed distinct sync webhooks)"
        case .redis: "Redis client"
        case .nango: "Nango client and emulator"
        case .sync: "Pipeline sync (emulator → hubspot-contacts pipeline → `contacts`)"
        case .reads: "API reads (`GET /api/companies/{id}/contacts`)"
        case .changes: "Change feed (`GET /api/companies/{id}/changes`)"
        case .outbound: "Outbound webhooks (signed `POST`s to a local receiver)"
        case .console: "Console pages (target: every page under 300 ms)"
        case .drift: "Drift check (`POST /api/admin/drift/check`: every company's models against Nango's counts)"
        case .other: "Other figures"
        }
    }
}

/// One line of the report: every figure the bench writes is one of these, with its ceiling beside it when it has one.
struct Row: Sendable {
    let section: Section
    let name: String
    let figure: Figure
    var ceiling: Ceiling? = nil
    var target: Target? = nil
    var note: String = ""

    /// The figure against its ceiling: a percentage, or a multiple for a latency target.
    var share: String {
        guard case .quantity(let figure) = figure, let ceiling, ceiling.quantity.value > 0 else { return "—" }
        let ratio = figure.value / ceiling.quantity.value
        switch target {
        case .timesAtMost?: return String(format: "%.1f×", ratio)
        // A large answer against a small one (a page of 1,000 changes against a cached page of 50) is a few percent:
        // one decimal there, so it does not read 0%.
        default: return String(format: ratio < 0.095 ? "%.1f%%" : "%.0f%%", ratio * 100)
        }
    }

    /// Whether the target holds in this run; nil when the run cannot tell.
    var targetMet: Bool? {
        guard let target, case .quantity(let figure) = figure else { return nil }
        switch target {
        case .shareAtLeast(let percent):
            guard let ceiling, ceiling.quantity.value > 0 else { return nil }
            return figure.value / ceiling.quantity.value * 100 >= percent
        case .timesAtMost(let times):
            guard let ceiling, ceiling.quantity.value > 0 else { return nil }
            return figure.value / ceiling.quantity.value <= times
        case .below(let value): return figure.value < value
        case .described: return nil
        }
    }
}

/// The report, written from the one table of rows every scenario added to.
struct Report {
    var context: [String] = []
    private(set) var rows: [Row] = []

    mutating func add(_ row: Row) { rows.append(row) }
    mutating func add(_ more: [Row]) { rows += more }

    func markdown() -> String {
        var lines = ["# Benchmark report", ""]
        lines += context.map { "- " + $0 }
        lines += ["", "## Targets (each figure beside its ceiling from this run)", ""]
        lines += ["| path | figure | ceiling | share | target | met |", "|---|---|---|---|---|---|"]
        for row in rows where row.target != nil {
            let met = row.targetMet.map { $0 ? "yes" : "**no**" } ?? "—"
            lines.append("| \(row.name) | \(row.figure.text) | \(ceilingText(row)) | \(row.share) | \(row.target!.text) | \(met) |")
        }
        for section in Section.allCases {
            let inSection = rows.filter { $0.section == section }
            guard !inSection.isEmpty else { continue }
            lines += ["", "## \(section.title)", "", "| figure | value | ceiling | share | note |", "|---|---|---|---|---|"]
            for row in inSection {
                lines.append("| \(row.name) | \(row.figure.text) | \(ceilingText(row)) | \(row.share) | \(row.note) |")
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    private func ceilingText(_ row: Row) -> String {
        guard let ceiling = row.ceiling else { return "—" }
        // A ceiling measured by a scenario that `BENCH_ONLY` left out is zero: say so rather than print 0.
        guard ceiling.quantity.value > 0 else { return "\(ceiling.name): not measured in this run" }
        return "\(ceiling.name): \(ceiling.quantity.text)"
    }
}
