import Foundation
import Kernels

/// Parameter shapes of ResNet-18 (CIFAR stem) with the SimCLR projection head, in forward order, as a
/// realistic layout for the gradient buffer: 62 tensors, 11.5 M floats.
func resnet18ParameterShapes() -> [[Int]] {
    var shapes = [[64, 3, 3, 3], [64], [64]]                           // conv1, bn1
    var inC = 64
    for (stage, outC) in [64, 128, 256, 512].enumerated() {
        for block in 0..<2 {
            let c1In = block == 0 ? inC : outC
            shapes += [[outC, c1In, 3, 3], [outC], [outC], [outC, outC, 3, 3], [outC], [outC]]
            if block == 0 && stage > 0 { shapes += [[outC, inC, 1, 1], [outC], [outC]] }  // downsample conv + bn
        }
        inC = outC
    }
    shapes += [[512, 512], [512], [256, 512], [256]]                   // fc.0, fc.2
    return shapes
}

/// Parameter sizes of `resnet18ParameterShapes()`.
func resnet18ParameterCounts() -> [Int] { resnet18ParameterShapes().map { $0.reduce(1, *) } }

/// Contiguous ranges for `counts`, in order.
func flatRanges(_ counts: [Int]) -> [Range<Int>] {
    var offset = 0
    return counts.map { n in defer { offset += n }; return offset..<(offset + n) }
}

/// Groups of consecutive parameters a backward pass would finish together: each conv with its BN
/// (the weight and the two BN vectors), walked from last to first. Returns flat ranges, last group first.
func backwardGroups(_ ranges: [Range<Int>], groupSize: Int = 3) -> [Range<Int>] {
    var groups: [Range<Int>] = []
    var end = ranges.count
    while end > 0 {
        let start = max(0, end - groupSize)
        groups.append(ranges[start].lowerBound..<ranges[end - 1].upperBound)
        end = start
    }
    return groups
}

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Keeps the core busy for `seconds`, like backward compute would.
@inline(never)
func busyCompute(seconds: Double) -> Float {
    let end = now() + seconds
    var x: Float = 1
    while now() < end {
        for _ in 0..<2000 { x = x * 1.000001 + 1e-7 }
    }
    return x
}

extension SplitMix64 {
    /// Uniform in [-1, 1).
    mutating func nextFloat() -> Float { Float(next() >> 40) / Float(1 << 23) - 1 }
}
