import Foundation

/// What a t-SNE map records beside its SVG (`NAME.json` next to `NAME.svg`): its title, its size and how well
/// it keeps classes together, so a report in the same directory shows the map with that figure.
public struct FeatureMapSummary: Codable, Equatable {
    public var title: String
    public var points: Int
    /// The share of points whose nearest other point in the map has the same label (nil without labels).
    public var mapAgreement: Double?
    /// The same in the features the map was made from.
    public var inputAgreement: Double?

    public init(title: String, points: Int, mapAgreement: Double?, inputAgreement: Double?) {
        self.title = title; self.points = points; self.mapAgreement = mapAgreement; self.inputAgreement = inputAgreement
    }

    /// The summary's file beside the map `svg`.
    public static func file(besides svg: URL) -> URL { svg.deletingPathExtension().appendingPathExtension("json") }

    public func write(besides svg: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(self).write(to: Self.file(besides: svg), options: .atomic)
    }

    /// The maps in `directory` that have a summary beside them, by file name.
    public static func maps(in directory: URL) -> [(svg: URL, summary: FeatureMapSummary)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".svg") }.sorted().compactMap { name in
            let svg = directory.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: file(besides: svg)),
                  let summary = try? JSONDecoder().decode(FeatureMapSummary.self, from: data) else { return nil }
            return (svg, summary)
        }
    }

    /// One sentence for a report: "A point's nearest neighbour in the map shares its class 31.2% of the time
    /// (in the features: 40.5%)."
    public var sentence: String {
        guard let mapAgreement else { return "\(points) points, without labels." }
        var text = String(format: "%d points; a point's nearest neighbour in the map shares its class %.1f%% of the time",
                          points, mapAgreement * 100)
        if let inputAgreement { text += String(format: " (in the features the map was made from: %.1f%%)", inputAgreement * 100) }
        return text + "."
    }
}
