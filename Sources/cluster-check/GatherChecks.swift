import Cluster
import Foundation
import Kernels

/// Global embedding matrix [2B, D] of a synthetic batch: row v*B + image is view v of that image.
func syntheticEmbeddings(B: Int, D: Int) -> [Float] {
    (0..<(2 * B * D)).map { k in
        let row = k / D, d = k % D
        return Float(sin(Double(row) * 0.37 + Double(d) * 1.3) + 0.1 * cos(Double(row * d)))
    }
}

/// Gradient of a dot-product InfoNCE (logits z_i.z_j / tau without the diagonal, positive (i + B) mod 2B) summed
/// over `anchors`, times `scale`, w.r.t. every row of z [2B, D]. Computed in Double.
func infoNCEGradient(z: [Float], B: Int, D: Int, tau: Double, anchors: [Int], scale: Double) -> [Float] {
    let n = 2 * B
    var grad = [Double](repeating: 0, count: n * D)
    for i in anchors {
        var logits = [Double](repeating: -.infinity, count: n)
        for j in 0..<n where j != i {
            var dot = 0.0
            for d in 0..<D { dot += Double(z[i * D + d]) * Double(z[j * D + d]) }
            logits[j] = dot / tau
        }
        let m = logits.max()!
        let e = logits.map { exp($0 - m) }
        let total = e.reduce(0, +)
        let positive = (i + B) % n
        for j in 0..<n where j != i {
            let coefficient = (e[j] / total - (j == positive ? 1 : 0)) * scale / tau
            for d in 0..<D {
                grad[i * D + d] += coefficient * Double(z[j * D + d])
                grad[j * D + d] += coefficient * Double(z[i * D + d])
            }
        }
    }
    return grad.map { Float($0) }
}

/// Rows of rank r's local [2b, D] layout taken from a global [2B, D] matrix.
func localSlice(_ global: [Float], rank r: Int, b: Int, B: Int, D: Int) -> [Float] {
    var out: [Float] = []
    for v in 0..<2 {
        let start: Int = (v * B + r * b) * D
        out += global[start..<(start + b * D)]
    }
    return out
}

func gatherChecks(_ run: CheckRunner) {
    let c = run.comm
    let W = c.size, r = c.rank
    let b = 3, D = 5, B = W * b
    let global = syntheticEmbeddings(B: B, D: D)
    // This rank's local [2b, D]: view 1 then view 2 of its images r*b..<(r+1)*b.
    let localValues = localSlice(global, rank: r, b: b, B: B, D: D)
    let local = Tensor(shape: [2 * b, D], values: localValues)
    let gather = EmbeddingGather(communicator: c)

    run.check("embedding-gather-rows") {
        let rows = Tensor(shape: [b, D], values: Array(localValues.prefix(b * D)))
        let all = try gather.allGatherRows(rows)
        return expect(all.array == Array(global.prefix(B * D)), "view-1 rows not in rank order")
    }

    run.check("embedding-gather-views-layout") {
        let all = try gather.gatherViews(local)
        let owned = gather.ownedRows(localBatch: b)
        let expectedOwned = Array(r * b..<(r + 1) * b) + Array(B + r * b..<B + (r + 1) * b)
        return firstFailure(
            expect(all.shape == [2 * B, D], "shape \(all.shape)"),
            expect(all.array == global, "gathered matrix is not [view1 of all; view2 of all]"),
            expect(owned == expectedOwned, "owned rows \(owned)"))
    }

    run.check("embedding-gather-backward-matches-single-process") {
        let gathered = try gather.gatherViews(local)
        let anchors = gather.ownedRows(localBatch: b)
        // Each rank: mean loss over its own 2b anchors, against all 2B rows.
        let partial = infoNCEGradient(z: gathered.array, B: B, D: D, tau: 0.5, anchors: anchors, scale: 1 / Double(2 * b))
        let localOnly = Tensor(shape: [2 * b, D], values: localSlice(partial, rank: r, b: b, B: B, D: D))
        let summed = try gather.viewsBackward(Tensor(shape: [2 * B, D], values: partial))
        // Single process: mean loss over all 2B anchors; the parameter gradients are averaged over W ranks,
        // so the summed embedding gradient divided by W must equal it.
        let reference = infoNCEGradient(z: global, B: B, D: D, tau: 0.5, anchors: Array(0..<(2 * B)), scale: 1 / Double(2 * B))
        let referenceLocal = localSlice(reference, rank: r, b: b, B: B, D: D)
        let scale = referenceLocal.map { abs($0) }.max()!
        let error = zip(summed.array, referenceLocal).map { abs($0 / Float(W) - $1) }.max()! / scale
        let bugError = zip(localOnly.array, referenceLocal).map { abs($0 / Float(W) - $1) }.max()! / scale
        run.info("gather backward: rel error \(error); a local-only backward would be off by \(bugError)")
        return firstFailure(
            expect(error < 1e-5, "summed gradient differs from single-process by \(error)"),
            expect(W == 1 || bugError > 1e-2, "the local-only (buggy) backward is not distinguishable"))
    }
}
