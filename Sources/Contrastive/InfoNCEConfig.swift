/// How two embedding rows are compared before the temperature is applied.
public enum Similarity: String, Sendable, CaseIterable {
    /// `z_i . z_j / (max(|z_i|, 1e-8) * max(|z_j|, 1e-8))`, as `torch.nn.functional.cosine_similarity`.
    case cosine
    /// `-|z_i - z_j|^2`.
    case negativeSquaredL2

    /// The name users and settings files give it: `cosine` or `l2`.
    public var name: String { self == .cosine ? "cosine" : "l2" }

    public init?(name: String) {
        guard let match = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = match
    }
}

/// Settings of the InfoNCE (NT-Xent) loss.
public struct InfoNCEConfig: Sendable, Equatable {
    /// Divides every similarity before the softmax (the reference's sweep: 0.01, 0.07, 0.5).
    public var temperature: Float
    public var similarity: Similarity

    public init(temperature: Float = 0.07, similarity: Similarity = .cosine) {
        precondition(temperature > 0, "InfoNCE temperature must be positive, got \(temperature)")
        self.temperature = temperature
        self.similarity = similarity
    }
}
