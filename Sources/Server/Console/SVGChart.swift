import Foundation

/// Small server-rendered charts: no chart library, no script. Numbers and escaped text only.
enum SVGChart {
    /// One bar a bucket (oldest first), scaled to the largest; each bar's `<title>` is its label and value, for a
    /// hover and for screen readers.
    static func bars(_ values: [Int], labels: [String], caption: String, width: Int = 600, height: Int = 120) -> String {
        precondition(values.count == labels.count, "one label a bar")
        let top = max(values.max() ?? 0, 1)
        let plotHeight = height - 16
        let slot = values.isEmpty ? 0 : Double(width) / Double(values.count)
        let barWidth = max(1, slot * 0.8)
        var svg = "<svg class=\"chart\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\" "
            + "aria-label=\"\(ConsoleHTML.escape(caption))\"><title>\(ConsoleHTML.escape(caption))</title>"
        svg += "<line x1=\"0\" y1=\"\(plotHeight)\" x2=\"\(width)\" y2=\"\(plotHeight)\" class=\"axis\"/>"
        for (index, value) in values.enumerated() {
            let barHeight = value == 0 ? 0 : max(1, Int((Double(value) / Double(top) * Double(plotHeight - 4)).rounded()))
            let x = Double(index) * slot
            svg += "<rect x=\"\(format(x))\" y=\"\(plotHeight - barHeight)\" width=\"\(format(barWidth))\" height=\"\(barHeight)\">"
                + "<title>\(ConsoleHTML.escape(labels[index])): \(value)</title></rect>"
        }
        svg += "<text x=\"0\" y=\"\(height - 2)\">\(ConsoleHTML.escape(labels.first ?? ""))</text>"
        svg += "<text x=\"\(width)\" y=\"\(height - 2)\" text-anchor=\"end\">\(ConsoleHTML.escape(labels.last ?? ""))</text>"
        svg += "<text x=\"\(width)\" y=\"10\" text-anchor=\"end\">max \(top)</text>"
        return svg + "</svg>"
    }

    /// A success-rate line: one point a bucket (oldest first) at its share of successes, 100 % at the top and 0 % at the
    /// bottom, a gap where a bucket had no attempt; each point's `<title>` is its label and counts. Small enough to sit
    /// in a table row.
    static func sparkline(
        _ buckets: [(succeeded: Int, attempts: Int)], labels: [String], caption: String, width: Int = 120, height: Int = 28
    ) -> String {
        precondition(buckets.count == labels.count, "one label a point")
        let pad = 3.0
        let plot = Double(height) - 2 * pad
        let slot = buckets.isEmpty ? 0 : Double(width) / Double(buckets.count)
        let radius = height >= 48 ? 3 : 2
        var svg = "<svg class=\"spark\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\" height=\"\(height)\" role=\"img\" "
            + "aria-label=\"\(ConsoleHTML.escape(caption))\"><title>\(ConsoleHTML.escape(caption))</title>"
        for y in [pad, pad + plot] {
            svg += "<line x1=\"0\" y1=\"\(format(y))\" x2=\"\(width)\" y2=\"\(format(y))\" class=\"axis\"/>"
        }
        var segments: [[String]] = [[]]
        var points = ""
        for (index, bucket) in buckets.enumerated() {
            guard bucket.attempts > 0 else {
                if !segments[segments.count - 1].isEmpty { segments.append([]) }
                continue
            }
            let x = slot * (Double(index) + 0.5)
            let y = pad + (1 - Double(bucket.succeeded) / Double(bucket.attempts)) * plot
            segments[segments.count - 1].append("\(format(x)),\(format(y))")
            points += "<circle cx=\"\(format(x))\" cy=\"\(format(y))\" r=\"\(radius)\"\(bucket.succeeded == 0 ? " class=\"none\"" : "")>"
                + "<title>\(ConsoleHTML.escape(labels[index])): \(bucket.succeeded) of \(bucket.attempts) answered 2xx</title></circle>"
        }
        for segment in segments where segment.count > 1 { svg += "<polyline points=\"\(segment.joined(separator: " "))\"/>" }
        return svg + points + "</svg>"
    }

    /// Counts by minute (minutes without any count 0) for the `minutes` whole minutes up to and including the one
    /// `now` is in: what the bars take.
    static func perMinute(_ counts: [(minute: Date, count: Int)], now: Date, minutes: Int = 60) -> [Int] {
        let start = (now.timeIntervalSince1970 / 60).rounded(.down) - Double(minutes - 1)
        var buckets = Array(repeating: 0, count: minutes)
        for entry in counts {
            let index = Int((entry.minute.timeIntervalSince1970 / 60).rounded(.down) - start)
            if buckets.indices.contains(index) { buckets[index] += entry.count }
        }
        return buckets
    }

    private static func format(_ value: Double) -> String {
        String(format: "%.1f", value)
    }
}
