import Foundation
import Kernels

/// `--grad-compression powersgd`: rank-R PowerSGD (Vogels et al., 2019) with error feedback that keeps W ranks
/// equal to one process (docs/gradient-compression.md, note 'Rank-count independence').
///
/// Per gradient matrix M (rows x columns, `GradientMatrixShape`) that rank R shrinks, with Q (columns x R,
/// kept from the step before, the same on every rank) and this rank's error e:
///
///     N = M + e                                   (kept in `error`)
///     P = sum over ranks of N Q                   (all-reduce, together with the bucket's uncompressed values)
///     P <- orthonormal basis of P's columns       (Gram-Schmidt in float64, the same on every rank)
///     Q = sum over ranks of N^T P                 (all-reduce; kept for the next step)
///     A = P Q^T                                   (the summed gradient's approximation, the update's input)
///     e <- N - A / W
///
/// P and Q are linear in the sum of the ranks' N, and the ranks' e add up to sum(N) - A: one process's error.
/// So W ranks compute what one process computes with the same compression, in any split of the batch, and a
/// checkpoint needs only the summed error and Q (`checkpointTensors`). Writing `e <- N - A` instead (each rank
/// keeping all of A's error, the usual per-worker error feedback) counts the error W times.
///
/// Vectors, and matrices where R >= min(rows, columns) or R * (rows + columns) >= rows * columns, are summed in
/// float32 with the bucket's other uncompressed values. Steps before `startStep` are not compressed (the error
/// stays zero and Q its initial value).
final class PowerSGD: GradientCodec {
    /// A compressed matrix: where its gradient is, where its error, P and Q are.
    struct Matrix {
        let parameter: Int
        let elements: Range<Int>       // in the flat gradient buffer
        let rows: Int, columns: Int
        let errorOffset: Int           // in `error`
        let qOffset: Int               // in `qt` (R x columns, row-major: Q transposed)
        var pOffset = 0                // in its bucket's `packed` buffer, after the uncompressed values
    }

    /// One bucket: its matrices, its other elements, and the buffer of its first all-reduce.
    struct Bucket {
        var matrices: [Int] = []               // indices into `matrices`, parameter order
        var plain: [Range<Int>] = []           // uncompressed flat ranges
        var plainCount = 0
        var packed = Tensor(shape: [0])        // [plainCount + sum(rows * R)]
        var qRange = 0..<0                     // its matrices' Q in `qt` (contiguous: parameter order)
    }

    let rank: Int
    /// Steps run uncompressed first (settable between steps).
    var startStep: Int
    private let world: Int
    private let worldRank: Int
    private(set) var matrices: [Matrix] = []
    private var buckets: [Bucket] = []
    /// N = M + e during a step, e between steps: every compressed matrix's, in parameter order.
    let error: Tensor
    /// Q transposed (R x columns per matrix), in parameter order, the same on every rank.
    let qt: Tensor
    private var errorViews: [Tensor] = [], qtViews: [Tensor] = [], pViews: [Tensor] = []
    private var orthonormal: [Double]
    private var active = false
    /// Matrices sent uncompressed because R is at least their smaller side, described once for the log.
    let uncompressedMatrices: [String]

    /// `matrixShapes[p]` is parameter p's matrix shape (nil for vectors), `parameterRanges[p]` its elements;
    /// `buckets` the reducer's plan.
    private let fault: PowerSGDFault?

    init(rank: Int, startStep: Int, world: Int, worldRank: Int, parameterRanges: [Range<Int>],
         matrixShapes: [GradientMatrixShape?], buckets plan: [GradientBucket], compressEveryMatrix: Bool = false,
         fault: PowerSGDFault? = nil) {
        self.rank = rank; self.startStep = startStep; self.world = world; self.worldRank = worldRank
        self.fault = fault
        var matrices: [Matrix] = [], notes: [String] = []
        var errorCount = 0, qCount = 0
        for (p, range) in parameterRanges.enumerated() where !range.isEmpty {
            guard p < matrixShapes.count, let shape = matrixShapes[p], shape.rows * shape.columns == range.count else { continue }
            if rank > min(shape.rows, shape.columns) || (rank == min(shape.rows, shape.columns) && !compressEveryMatrix) {
                notes.append("parameter \(p) (\(shape.rows) x \(shape.columns))")
                continue
            }
            guard compressEveryMatrix || rank * (shape.rows + shape.columns) < shape.rows * shape.columns else { continue }
            matrices.append(Matrix(parameter: p, elements: range, rows: shape.rows, columns: shape.columns,
                                   errorOffset: errorCount, qOffset: qCount))
            errorCount += range.count
            qCount += rank * shape.columns
        }
        uncompressedMatrices = notes
        error = Tensor(shape: [errorCount])
        qt = Tensor(shape: [qCount])
        var maxRows = 0
        for b in plan {
            var bucket = Bucket()
            var cursor = b.elements.lowerBound
            var pCount = 0
            for j in matrices.indices where b.parameters.contains(matrices[j].parameter) {
                let m = matrices[j]
                if cursor < m.elements.lowerBound { bucket.plain.append(cursor..<m.elements.lowerBound) }
                cursor = m.elements.upperBound
                bucket.matrices.append(j)
                pCount += m.rows * rank
                maxRows = max(maxRows, m.rows)
            }
            if cursor < b.elements.upperBound { bucket.plain.append(cursor..<b.elements.upperBound) }
            bucket.plainCount = bucket.plain.reduce(0) { $0 + $1.count }
            bucket.packed = Tensor(shape: [bucket.plainCount + pCount])
            var offset = bucket.plainCount
            for j in bucket.matrices { matrices[j].pOffset = offset; offset += matrices[j].rows * rank }
            if let first = bucket.matrices.first, let last = bucket.matrices.last {
                bucket.qRange = matrices[first].qOffset..<(matrices[last].qOffset + rank * matrices[last].columns)
            }
            buckets.append(bucket)
        }
        self.matrices = matrices
        orthonormal = [Double](repeating: 0, count: maxRows * rank)
        errorViews = matrices.map { error.view(offset: $0.errorOffset, shape: [$0.rows, $0.columns]) }
        qtViews = matrices.map { qt.view(offset: $0.qOffset, shape: [rank, $0.columns]) }
        var pViews = [Tensor?](repeating: nil, count: matrices.count)
        for bucket in buckets {
            for j in bucket.matrices { pViews[j] = bucket.packed.view(offset: matrices[j].pOffset, shape: [matrices[j].rows, rank]) }
        }
        self.pViews = pViews.map { $0! }
        resetQ()
    }

    // MARK: checkpoints (note 'Checkpoints' in docs/gradient-compression.md)

    static let errorName = "powersgd.error_sum"
    static let qName = "powersgd.q"

    /// Collective (between steps): the error summed over ranks and Q, under their checkpoint names.
    func checkpointTensors(group: any ProcessGroup) throws -> [String: Tensor] {
        let sum = Tensor(shape: [error.count])
        sum.copy(from: error)
        try group.allReduceSum(sum)
        let q = Tensor(shape: [qt.count])
        q.copy(from: qt)
        return [PowerSGD.errorName: sum, PowerSGD.qName: q]
    }

    /// Why `tensors` cannot be restored here (nil: they can). `tensors` is rank 0's view of a checkpoint.
    func refusal(_ tensors: [String: Tensor]) -> String? {
        for (name, count) in [(PowerSGD.errorName, error.count), (PowerSGD.qName, qt.count)] {
            guard let t = tensors[name] else { return "the checkpoint has no \(name) (it was not written with --grad-compression powersgd)" }
            guard t.count == count else {
                return "its \(name) holds \(t.count) values, this run's \(count) (another model, --powersgd-rank or compression plan)"
            }
        }
        return nil
    }

    /// Collective (between steps): rank 0 takes the summed error and the other ranks zero, so the ranks' errors
    /// still add up to the saved sum (on any number of ranks); Q is broadcast from rank 0. Only rank 0 needs
    /// `tensors` (checked with `refusal` first).
    func restore(_ tensors: [String: Tensor], group: any ProcessGroup) throws {
        if group.rank == 0 {
            error.copy(from: tensors[PowerSGD.errorName]!)
            qt.copy(from: tensors[PowerSGD.qName]!)
        } else {
            error.fill(0)
        }
        try group.broadcast(qt, root: 0)
    }

    /// Q's starting value: standard normal numbers from a fixed stream per matrix, the same on every rank.
    func resetQ() {
        for m in matrices {
            var rng = SplitMix64(.powerSGDQ, seed: 0, key: m.parameter)
            let q = qt.address + m.qOffset
            for i in 0..<(rank * m.columns) { q[i] = Float(rng.nextNormal()) }
        }
    }

    /// Elements the codec compresses (all matrices), and what it sends for them per step.
    var compressedElements: Int { error.count }
    var compressedPayloadElements: Int { matrices.reduce(0) { $0 + rank * ($1.rows + $1.columns) } }

    func beginStep(_ step: Int) { active = step >= startStep }

    func reduce(bucket k: Int, span: Range<Int>, gradients: UnsafeMutablePointer<Float>, transport: GradientTransport) throws {
        guard active, !buckets[k].matrices.isEmpty else {
            return try transport.allReduceSum(gradients + span.lowerBound, count: span.count)
        }
        let bucket = buckets[k]
        let packed = bucket.packed.address
        // The uncompressed values, then P = N Q of every matrix, in one all-reduce.
        var at = 0
        for r in bucket.plain {
            (packed + at).update(from: gradients + r.lowerBound, count: r.count)
            at += r.count
        }
        for j in bucket.matrices {
            let m = matrices[j]
            let n = error.address + m.errorOffset
            let g = gradients + m.elements.lowerBound
            for i in 0..<m.elements.count { n[i] += g[i] }
            matmul(errorViews[j], transposed: false, rows: m.rows, inner: m.columns, qtViews[j], transposed: true, columns: rank, into: pViews[j])
        }
        try transport.allReduceSum(packed, count: bucket.packed.count)
        at = 0
        for r in bucket.plain {
            (gradients + r.lowerBound).update(from: packed + at, count: r.count)
            at += r.count
        }
        // Q = N^T P with P orthonormal, summed over ranks; it is kept for the next step.
        for j in bucket.matrices {
            orthonormalizeColumns(pViews[j].address, rows: matrices[j].rows)
            let m = matrices[j]
            matmul(pViews[j], transposed: true, rows: rank, inner: m.rows, errorViews[j], transposed: false, columns: m.columns, into: qtViews[j])
        }
        if fault != .perRankQ {
            try transport.allReduceSum(qt.address + bucket.qRange.lowerBound, count: bucket.qRange.count)
        }
        // A = P Q^T replaces the gradient; e = N - A / W.
        let share = fault == .perRankErrorFeedback ? 1 : 1 / Float(world)
        for j in bucket.matrices {
            let m = matrices[j]
            let p = pViews[j].address, q = qt.address + m.qOffset
            let n = error.address + m.errorOffset, g = gradients + m.elements.lowerBound
            for i in 0..<m.rows {
                let row = g + i * m.columns, e = n + i * m.columns
                // A's row in a fixed order (r = 0, 1, ...), the same on every rank: replicas stay identical.
                let p0 = p[i * rank]
                for c in 0..<m.columns { row[c] = p0 * q[c] }
                for r in 1..<max(1, rank) {
                    let pr = p[i * rank + r], qr = q + r * m.columns
                    for c in 0..<m.columns { row[c] += pr * qr[c] }
                }
                for c in 0..<m.columns { e[c] -= row[c] * share }
            }
        }
    }

    /// Gram-Schmidt over the R columns of a row-major rows x R matrix, in float64 (modified Gram-Schmidt, columns
    /// in order). A column with nothing left after removing the earlier ones becomes zero.
    private func orthonormalizeColumns(_ p: UnsafeMutablePointer<Float>, rows: Int) {
        orthonormal.withUnsafeMutableBufferPointer { v in
            for i in 0..<(rows * rank) { v[i] = Double(p[i]) }
            for c in 0..<rank {
                for prior in 0..<c {
                    var dot = 0.0
                    for i in 0..<rows { dot += v[i * rank + c] * v[i * rank + prior] }
                    for i in 0..<rows { v[i * rank + c] -= dot * v[i * rank + prior] }
                }
                var norm = 0.0
                for i in 0..<rows { norm += v[i * rank + c] * v[i * rank + c] }
                norm = norm.squareRoot()
                let scale = norm > 0 && norm.isFinite ? 1 / norm : 0
                for i in 0..<rows { v[i * rank + c] *= scale }
            }
            for i in 0..<(rows * rank) { p[i] = Float(v[i]) }
        }
    }
}
