/// Which torchvision ResNet: block type and blocks per stage.
public enum Architecture: String, CaseIterable, Codable, Sendable {
    case resnet18, resnet34, resnet50

    /// Residual blocks in each of the four stages.
    public var blocksPerStage: [Int] {
        switch self {
        case .resnet18: return [2, 2, 2, 2]
        case .resnet34, .resnet50: return [3, 4, 6, 3]
        }
    }

    /// ResNet-50 uses Bottleneck blocks (output channels 4x the stage's width); 18 and 34 BasicBlocks.
    public var usesBottleneck: Bool { self == .resnet50 }
    public var expansion: Int { usesBottleneck ? 4 : 1 }
    public var displayName: String {
        switch self {
        case .resnet18: return "ResNet-18"
        case .resnet34: return "ResNet-34"
        case .resnet50: return "ResNet-50"
        }
    }

    /// The architecture whose state_dict holds these keys (a prefix such as "model." is fine): only Bottleneck
    /// blocks have a `conv3`, and only ResNet-34 among the BasicBlock networks a sixth block in layer3.
    public static func inferred(fromKeys keys: some Sequence<String>) -> Architecture {
        var deep = false
        for k in keys {
            if k.contains(".conv3.") { return .resnet50 }
            if k.contains("layer3.5.") { deep = true }
        }
        return deep ? .resnet34 : .resnet18
    }
}
