import Dispatch
import Foundation

/// 2-D convolution (no bias, groups 1) on CNHW feature maps, as im2col + SGEMM.
///
/// The batch is processed in chunks of images so the column buffer stays a few MB (in cache-friendly
/// range) instead of hundreds of MB; each chunk's GEMM writes its slice of the CNHW output through
/// the leading dimension `batch*outH*outW`, so no reshuffling is needed.
public struct ConvGeometry: Equatable {
    public let inChannels: Int, outChannels: Int
    public let kernel: Int, stride: Int, padding: Int
    public let batch: Int, inHeight: Int, inWidth: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int, padding: Int,
                batch: Int, inHeight: Int, inWidth: Int) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.stride = stride; self.padding = padding
        self.batch = batch; self.inHeight = inHeight; self.inWidth = inWidth
        precondition(outHeight > 0 && outWidth > 0, "convolution output would be empty: \(self)")
    }

    public var outHeight: Int { (inHeight + 2 * padding - kernel) / stride + 1 }
    public var outWidth: Int { (inWidth + 2 * padding - kernel) / stride + 1 }
    /// Rows of the column matrix: one per (input channel, kernel row, kernel column).
    public var patchSize: Int { inChannels * kernel * kernel }
    var outPlane: Int { outHeight * outWidth }
    var inPlane: Int { inHeight * inWidth }
    /// A 1x1 stride-1 unpadded convolution reads its input directly as the column matrix.
    var isPointwise: Bool { kernel == 1 && stride == 1 && padding == 0 }

    /// Images per chunk so that the column buffer holds about `columnBudget` floats.
    public var imagesPerChunk: Int { max(1, min(batch, Self.columnBudget / max(1, patchSize * outPlane))) }
    static let columnBudget = Int(ProcessInfo.processInfo.environment["SIMCLR_COL_BUDGET"] ?? "") ?? (1 << 21)

    /// FLOPs of the forward pass (multiply and add counted separately).
    public var forwardFLOPs: Double { 2 * Double(outChannels * patchSize) * Double(batch * outPlane) }
}

/// Copies input patches of images `n0 ..< n0+nc` into `col[patchSize, nc*outPlane]`.
private func im2col(_ g: ConvGeometry, input: UnsafeMutablePointer<Float>, n0: Int, nc: Int,
                    col: UnsafeMutablePointer<Float>) {
    let k = g.kernel, s = g.stride, p = g.padding
    let oh = g.outHeight, ow = g.outWidth, ih = g.inHeight, iw = g.inWidth
    let rowLength = nc * g.outPlane
    for r in 0..<g.patchSize {
        let c = r / (k * k), ki = (r / k) % k, kj = r % k
        let dstRow = col + r * rowLength
        for n in 0..<nc {
            let plane = input + (c * g.batch + n0 + n) * g.inPlane
            let dst = dstRow + n * g.outPlane
            for y in 0..<oh {
                let iy = y * s - p + ki
                let dstLine = dst + y * ow
                if iy < 0 || iy >= ih { dstLine.update(repeating: 0, count: ow); continue }
                let srcLine = plane + iy * iw
                if s == 1 {
                    // Valid x range: 0 <= x - p + kj < iw.
                    let lo = max(0, p - kj), hi = min(ow, iw + p - kj)
                    if lo > 0 { dstLine.update(repeating: 0, count: lo) }
                    if hi > lo { (dstLine + lo).update(from: srcLine + (lo - p + kj), count: hi - lo) }
                    if hi < ow { (dstLine + max(hi, lo)).update(repeating: 0, count: ow - max(hi, lo)) }
                } else {
                    for x in 0..<ow {
                        let ix = x * s - p + kj
                        dstLine[x] = (ix >= 0 && ix < iw) ? srcLine[ix] : 0
                    }
                }
            }
        }
    }
}

/// Adds `col[patchSize, nc*outPlane]` back into the input-gradient planes of images `n0 ..< n0+nc`.
private func col2imAdd(_ g: ConvGeometry, col: UnsafeMutablePointer<Float>, n0: Int, nc: Int,
                       gradInput: UnsafeMutablePointer<Float>) {
    let k = g.kernel, s = g.stride, p = g.padding
    let oh = g.outHeight, ow = g.outWidth, ih = g.inHeight, iw = g.inWidth
    let rowLength = nc * g.outPlane
    for c in 0..<g.inChannels {
        for ki in 0..<k {
            for kj in 0..<k {
                let srcRow = col + ((c * k + ki) * k + kj) * rowLength
                for n in 0..<nc {
                    let plane = gradInput + (c * g.batch + n0 + n) * g.inPlane
                    let src = srcRow + n * g.outPlane
                    for y in 0..<oh {
                        let iy = y * s - p + ki
                        if iy < 0 || iy >= ih { continue }
                        let dstLine = plane + iy * iw, srcLine = src + y * ow
                        if s == 1 {
                            let lo = max(0, p - kj), hi = min(ow, iw + p - kj)
                            if hi > lo {
                                let d = dstLine + (lo - p + kj), sl = srcLine + lo
                                for x in 0..<(hi - lo) { d[x] += sl[x] }
                            }
                        } else {
                            for x in 0..<ow {
                                let ix = x * s - p + kj
                                if ix >= 0 && ix < iw { dstLine[ix] += srcLine[x] }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Splits the batch among threads; each thread runs im2col + single-threaded GEMM on its own
/// chunks of images. Measured on this machine: OpenBLAS's own threading scales poorly on these
/// skinny matrices (64 x 3072 x 576: 45 GFLOP/s on one thread, 33 on two), chunk parallelism scales.
private func forEachImageChunk(_ g: ConvGeometry, _ body: (_ thread: Int, _ n0: Int, _ nc: Int) -> Void) {
    let threads = g.threadCount
    let chunk = g.imagesPerChunk
    withoutActuallyEscaping(body) { body in
        let run = { (t: Int) in
            let lo = g.batch * t / threads, hi = g.batch * (t + 1) / threads
            for n0 in stride(from: lo, to: hi, by: chunk) { body(t, n0, min(chunk, hi - n0)) }
        }
        if threads == 1 { run(0); return }
        BLAS.withSingleThread { DispatchQueue.concurrentPerform(iterations: threads, execute: run) }
    }
}

extension ConvGeometry {
    /// Floats of workspace the convolution kernels need with `Parallel.threadCount` threads:
    /// one column buffer per thread, plus weight-gradient partials for all threads but the first.
    public var workspaceCount: Int {
        let threads = threadCount
        let columns = isPointwise ? 0 : patchSize * outPlane * imagesPerChunk
        return threads * columns + (threads - 1) * outChannels * patchSize
    }
    var columnCount: Int { patchSize * outPlane * imagesPerChunk }
    /// Threads the batch is split over; the workspace layout and the weight-gradient partials depend on it.
    var threadCount: Int { max(1, min(Parallel.threadCount, batch)) }
}

/// output[O, N, oh, ow] = conv(input[C, N, ih, iw], weight[O, C, k, k]).
public func conv2dForward(_ g: ConvGeometry, input: Tensor, weight: Tensor, output: Tensor, workspace: Tensor) {
    precondition(input.count == g.inChannels * g.batch * g.inPlane, "conv input size")
    precondition(weight.count == g.outChannels * g.patchSize, "conv weight size")
    precondition(output.count == g.outChannels * g.batch * g.outPlane, "conv output size")
    precondition(workspace.count >= g.workspaceCount, "conv workspace too small")
    let ldOut = g.batch * g.outPlane
    forEachImageChunk(g) { t, n0, nc in
        let cols = nc * g.outPlane
        var b = input.base + n0 * g.inPlane, ldb = ldOut
        if !g.isPointwise {
            // A 1x1 stride-1 convolution reads the CNHW input directly as its column matrix.
            b = workspace.base + t * g.columnCount
            ldb = cols
            im2col(g, input: input.base, n0: n0, nc: nc, col: b)
        }
        sgemm(transA: false, transB: false, m: g.outChannels, n: cols, k: g.patchSize,
              a: weight.base, lda: g.patchSize, b: b, ldb: ldb,
              beta: 0, c: output.base + n0 * g.outPlane, ldc: ldOut)
    }
}

/// Weight gradient (overwritten) and, when `gradInput` is given, input gradient (overwritten).
public func conv2dBackward(_ g: ConvGeometry, input: Tensor, weight: Tensor, gradOutput: Tensor,
                           gradWeight: Tensor, gradInput: Tensor?, workspace: Tensor) {
    precondition(gradOutput.count == g.outChannels * g.batch * g.outPlane, "conv gradOutput size")
    precondition(gradWeight.count == weight.count, "conv gradWeight size")
    precondition(workspace.count >= g.workspaceCount, "conv workspace too small")
    let ldOut = g.batch * g.outPlane
    let threads = g.threadCount
    let weightCount = g.outChannels * g.patchSize
    let partials = workspace.base + threads * (g.isPointwise ? 0 : g.columnCount)
    if !g.isPointwise { gradInput?.fill(0) }
    // Whether each thread has written its weight-gradient partial yet (stack memory: no allocation per step).
    withUnsafeTemporaryAllocation(of: Bool.self, capacity: threads) { startedFlags in
        startedFlags.initialize(repeating: false)
        forEachImageChunk(g) { t, n0, nc in
            let cols = nc * g.outPlane
            let dY = gradOutput.base + n0 * g.outPlane
            let dW = t == 0 ? gradWeight.base : partials + (t - 1) * weightCount
            var x = input.base + n0 * g.inPlane, ldx = ldOut
            let col = workspace.base + t * (g.isPointwise ? 0 : g.columnCount)
            if !g.isPointwise {
                im2col(g, input: input.base, n0: n0, nc: nc, col: col)
                x = col
                ldx = cols
            }
            // dW[O, CKK] (+)= dY[O, cols] x X[CKK, cols]^T
            sgemm(transA: false, transB: true, m: g.outChannels, n: g.patchSize, k: cols,
                  a: dY, lda: ldOut, b: x, ldb: ldx,
                  beta: startedFlags[t] ? 1 : 0, c: dW, ldc: g.patchSize)
            startedFlags[t] = true
            guard let gradInput else { return }
            if g.isPointwise {
                sgemm(transA: true, transB: false, m: g.patchSize, n: cols, k: g.outChannels,
                      a: weight.base, lda: g.patchSize, b: dY, ldb: ldOut,
                      beta: 0, c: gradInput.base + n0 * g.inPlane, ldc: ldOut)
            } else {
                sgemm(transA: true, transB: false, m: g.patchSize, n: cols, k: g.outChannels,
                      a: weight.base, lda: g.patchSize, b: dY, ldb: ldOut, beta: 0, c: col, ldc: cols)
                col2imAdd(g, col: col, n0: n0, nc: nc, gradInput: gradInput.base)
            }
        }
        // Sum the other threads' partial weight gradients into the first.
        let dW = gradWeight.base
        for t in 1..<max(threads, 1) where startedFlags[t] {
            let part = partials + (t - 1) * weightCount
            for i in 0..<weightCount { dW[i] += part[i] }
        }
    }
}
