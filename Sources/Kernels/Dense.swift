/// Fully connected layer kernels on row-major [batch, features] matrices.
public enum Dense {
    /// y[N, out] = x[N, in] W[out, in]^T + b.
    public static func forward(x: Tensor, weight: Tensor, bias: Tensor?, y: Tensor, batch: Int, inFeatures: Int, outFeatures: Int) {
        precondition(x.count == batch * inFeatures && weight.count == outFeatures * inFeatures && y.count == batch * outFeatures)
        if let bias {
            let yp = y.base, bp = bias.base
            for n in 0..<batch { (yp + n * outFeatures).update(from: bp, count: outFeatures) }
        }
        sgemm(transA: false, transB: true, m: batch, n: outFeatures, k: inFeatures,
              a: x.base, lda: inFeatures, b: weight.base, ldb: inFeatures,
              beta: bias == nil ? 0 : 1, c: y.base, ldc: outFeatures)
    }

    /// dW = dy^T x, db = sum over batch of dy, dx = dy W (when requested). Gradients are overwritten.
    public static func backward(x: Tensor, weight: Tensor, gradOutput dy: Tensor, gradWeight: Tensor, gradBias: Tensor?,
                                gradInput: Tensor?, batch: Int, inFeatures: Int, outFeatures: Int) {
        sgemm(transA: true, transB: false, m: outFeatures, n: inFeatures, k: batch,
              a: dy.base, lda: outFeatures, b: x.base, ldb: inFeatures, beta: 0, c: gradWeight.base, ldc: inFeatures)
        if let gradBias {
            let gb = gradBias.base, gp = dy.base
            gb.update(repeating: 0, count: outFeatures)
            for n in 0..<batch { for o in 0..<outFeatures { gb[o] += gp[n * outFeatures + o] } }
        }
        if let gradInput {
            sgemm(transA: false, transB: false, m: batch, n: inFeatures, k: outFeatures,
                  a: dy.base, lda: outFeatures, b: weight.base, ldb: inFeatures, beta: 0, c: gradInput.base, ldc: inFeatures)
        }
    }
}
