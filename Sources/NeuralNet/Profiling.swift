import Dispatch
import Kernels

/// Where the time of a training step goes, by kind of work. The benchmark turns it on; a disabled
/// profile costs one nil check per layer call.
public enum WorkKind: String, CaseIterable {
    case conv, batchNorm = "bn", other, loss, optimizer, communication
}

public final class StepProfile {
    public private(set) var seconds: [WorkKind: Double] = [:]
    /// Convolution time and model FLOPs (direct-equivalent, what the shapes imply) by pass.
    public private(set) var convolutionPasses: [ConvolutionKernel.Pass: (seconds: Double, flops: Double)] = [:]
    public init() {}
    public func add(_ kind: WorkKind, _ s: Double) { seconds[kind, default: 0] += s }
    public func reset() { seconds = [:]; convolutionPasses = [:] }

    /// Times one convolution pass of `flops` model FLOPs when a profile is active.
    @inline(__always)
    public static func measure<T>(_ pass: ConvolutionKernel.Pass, flops: Double, _ body: () -> T) -> T {
        guard let profile = active else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        let s = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
        let sum = profile.convolutionPasses[pass] ?? (0, 0)
        profile.convolutionPasses[pass] = (sum.seconds + s, sum.flops + flops)
        return result
    }

    /// The profile layers report to; nil (the default) disables timing.
    nonisolated(unsafe) public static var active: StepProfile?

    @inline(__always)
    public static func measure<T>(_ kind: WorkKind, _ body: () -> T) -> T {
        guard let profile = active else { return body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let result = body()
        profile.add(kind, Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9)
        return result
    }
}
