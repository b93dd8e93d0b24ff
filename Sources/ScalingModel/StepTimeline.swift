import Foundation

/// One rank's training step as measured on this machine, in the order the compute thread met its
/// communication (JSON, built from a one-rank step trace by `StepTimeline.build`): what both the emulated-compute mode
/// (which replays it, sleeping through the compute and running every collective for real) and the scaling
/// model (which adds alpha-beta costs to it) read.
///
/// Each event is a point where the step touches communication (a SyncBN statistics reduction, a parameter's
/// gradient reported final, the embedding gather, ...), with the compute time the step spent since the
/// previous event: so the forward and backward of each layer appear as the time before that layer's event.
/// Times are medians over the profiled steps of a process of one rank (no communication at all).
public struct StepTimeline: Codable, Equatable, Sendable {
    public static let formatName = "simclr-step-timeline"
    public static let currentVersion = 1

    /// What the times belong to; an emulation or model must use the same.
    public struct Identity: Codable, Equatable, Sendable, CustomStringConvertible {
        public var arch: String
        public var stem: String
        public var width: Double
        public var headDims: [Int]
        public var precision: String
        /// Images per rank per step (`simclr bench --batch-size` / ranks; each gives two views).
        public var perRankBatch: Int
        public var imageSize: Int
        public var smallCrops: Int

        public init(arch: String, stem: String, width: Double, headDims: [Int], precision: String, perRankBatch: Int,
                    imageSize: Int, smallCrops: Int) {
            self.arch = arch; self.stem = stem; self.width = width; self.headDims = headDims; self.precision = precision
            self.perRankBatch = perRankBatch; self.imageSize = imageSize; self.smallCrops = smallCrops
        }

        public var description: String {
            "\(arch) \(stem) width \(width) head \(headDims.map(String.init).joined(separator: ",")) \(precision), "
                + "batch \(perRankBatch) per rank at \(imageSize) px" + (smallCrops > 0 ? ", \(smallCrops) small crops" : "")
        }

        /// The first field that differs from `other`, named as a user would name it, or nil.
        public func mismatch(with other: Identity) -> String? {
            if arch != other.arch { return "model \(arch) vs \(other.arch)" }
            if stem != other.stem { return "stem \(stem) vs \(other.stem)" }
            if width != other.width { return "width \(width) vs \(other.width)" }
            if headDims != other.headDims { return "head \(headDims) vs \(other.headDims)" }
            if precision != other.precision { return "precision \(precision) vs \(other.precision)" }
            if perRankBatch != other.perRankBatch { return "batch per rank \(perRankBatch) vs \(other.perRankBatch)" }
            if imageSize != other.imageSize { return "image size \(imageSize) vs \(other.imageSize)" }
            if smallCrops != other.smallCrops { return "small crops \(smallCrops) vs \(other.smallCrops)" }
            return nil
        }
    }

    /// A parameter tensor in the flat gradient buffer (forward order).
    public struct Parameter: Codable, Equatable, Sendable {
        public var name: String
        public var elements: Int
        /// The 2-D view compression uses ([out, in*k*k] for a convolution, [out, in] for a Linear); nil for vectors.
        public var matrix: [Int]?
        public init(name: String, elements: Int, matrix: [Int]?) { self.name = name; self.elements = elements; self.matrix = matrix }
    }

    public enum Kind: String, Codable, Sendable {
        /// A BatchNorm layer's statistics (2 * channels + 1 doubles) reduced over ranks (SyncBN), in forward or backward.
        case syncBatchNorm = "syncbn"
        /// The projection embeddings all-gathered ([2b, D] floats per rank).
        case gather
        /// The gather's backward: the [2B, D] embedding gradient all-reduced; the compute before it is the loss.
        case gatherBackward = "gather-backward"
        /// A parameter's gradient is final (its bucket may start).
        case ready
        /// The step waits for every gradient bucket.
        case finishGradients = "finish-gradients"
        /// The step's totals (6 doubles) summed over ranks; the compute before it is the optimizer.
        case totals
    }

    public struct Event: Codable, Equatable, Sendable {
        public var kind: Kind
        /// Compute seconds since the previous event ended.
        public var computeSeconds: Double
        /// A label for people: the layer or parameter.
        public var label: String
        /// syncbn: channels; ready: the parameter index; gather and gather-backward: rows per rank; totals: doubles.
        public var count: Int
        public init(kind: Kind, computeSeconds: Double, label: String, count: Int) {
            self.kind = kind; self.computeSeconds = computeSeconds; self.label = label; self.count = count
        }

        /// Bytes one rank contributes to the event's collective (0 for marks).
        public func bytes(embeddingDim: Int) -> Int {
            switch kind {
            case .syncBatchNorm: return (2 * count + 1) * 8
            case .gather, .gatherBackward: return count * embeddingDim * 4
            case .totals: return count * 8
            case .ready, .finishGradients: return 0
            }
        }
    }

    /// The loss's compute time with `world` ranks (it grows with the global batch the loss sees).
    public struct LossTime: Codable, Equatable, Sendable {
        public var world: Int
        public var seconds: Double
        public init(world: Int, seconds: Double) { self.world = world; self.seconds = seconds }
    }

    public var format = StepTimeline.formatName
    public var version = StepTimeline.currentVersion
    public var identity: Identity
    public var machine: String
    public var threads: Int
    public var measuredSteps: Int
    public var measuredAt: String
    public var embeddingDim: Int
    public var parameters: [Parameter]
    public var events: [Event]
    /// Compute after the last event (none normally: the totals end the step).
    public var trailingSeconds: Double
    public var lossTimes: [LossTime]

    public init(identity: Identity, machine: String, threads: Int, measuredSteps: Int, measuredAt: String, embeddingDim: Int,
                parameters: [Parameter], events: [Event], trailingSeconds: Double, lossTimes: [LossTime]) {
        self.identity = identity; self.machine = machine; self.threads = threads; self.measuredSteps = measuredSteps
        self.measuredAt = measuredAt; self.embeddingDim = embeddingDim; self.parameters = parameters; self.events = events
        self.trailingSeconds = trailingSeconds; self.lossTimes = lossTimes
    }

    /// Compute seconds of one step on one rank.
    public var computeSeconds: Double { events.map(\.computeSeconds).reduce(trailingSeconds, +) }

    /// The loss's seconds with `world` ranks: measured where measured, else a straight line through the
    /// measurements (the loss's work grows linearly with the global batch).
    public func lossSeconds(world: Int) -> Double {
        if let exact = lossTimes.first(where: { $0.world == world }) { return exact.seconds }
        let points = lossTimes.sorted { $0.world < $1.world }
        guard points.count >= 2 else { return points.first?.seconds ?? 0 }
        let n = Double(points.count)
        let mx = points.map { Double($0.world) }.reduce(0, +) / n, my = points.map(\.seconds).reduce(0, +) / n
        let sxy = points.map { (Double($0.world) - mx) * ($0.seconds - my) }.reduce(0, +)
        let sxx = points.map { (Double($0.world) - mx) * (Double($0.world) - mx) }.reduce(0, +)
        let slope = sxx > 0 ? sxy / sxx : 0
        return max(0, my + slope * (Double(world) - mx))
    }

    /// The events with the loss's time set for `world` ranks.
    public func events(world: Int) -> [Event] {
        events.map { e in
            var e = e
            if e.kind == .gatherBackward { e.computeSeconds = lossSeconds(world: world) }
            return e
        }
    }

    public func encoded() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(self)
    }

    /// Reads a timeline file, refusing files of another format or version with the reason.
    public static func read(contentsOf url: URL) throws -> StepTimeline {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ScalingModelError.badInput("cannot read the step profile \(url.path): \(error.localizedDescription)")
        }
        struct Header: Decodable { var format: String?; var version: Int? }
        let header = try? JSONDecoder().decode(Header.self, from: data)
        guard header?.format == formatName else {
            throw ScalingModelError.badInput("\(url.path) is not a step profile (format '\(header?.format ?? "none")'; expected '\(formatName)')")
        }
        guard header?.version == currentVersion else {
            throw ScalingModelError.badInput("\(url.path) is step profile version \(header?.version ?? 0); this build reads version \(currentVersion): profile the step again")
        }
        do { return try JSONDecoder().decode(StepTimeline.self, from: data) } catch {
            throw ScalingModelError.badInput("\(url.path): malformed step profile: \(error)")
        }
    }
}
