import Kernels

/// `--grad-compression bf16`: the sum over ranks with bfloat16 on the wire and float32 adds
/// (docs/gradient-compression.md, note 'bf16').
///
/// A bucket of n elements is cut into W blocks of ceil(n/W). Each rank rounds its gradients to bf16 and sends
/// block r to rank r (all-to-all); rank r adds the W contributions of its block in float32, in rank order,
/// rounds the sum to bf16, and every rank gathers every block (all-gather). Every rank ends with the same
/// values: bf16(sum over s of bf16(g_s)), each element added by one rank in a fixed order. The bytes are those
/// of a ring all-reduce of 16-bit values: half of float32's.
final class BF16Sum: GradientCodec {
    private let world: Int
    private let rank: Int
    /// Scratch of the largest bucket: what this rank sends, receives, adds and gathers.
    private let send: UnsafeMutablePointer<UInt16>
    private let received: UnsafeMutablePointer<UInt16>
    private let gathered: UnsafeMutablePointer<UInt16>
    private let blockSum: UnsafeMutablePointer<Float>
    private let blockBF16: UnsafeMutablePointer<UInt16>
    private let capacity: Int

    init(world: Int, rank: Int, largestBucket: Int) {
        self.world = world; self.rank = rank
        let block = (largestBucket + world - 1) / world
        capacity = max(1, block * world)
        send = .allocate(capacity: capacity); received = .allocate(capacity: capacity)
        gathered = .allocate(capacity: capacity)
        blockSum = .allocate(capacity: max(1, block)); blockBF16 = .allocate(capacity: max(1, block))
    }

    deinit {
        send.deallocate(); received.deallocate(); gathered.deallocate(); blockSum.deallocate(); blockBF16.deallocate()
    }

    func beginStep(_ step: Int) {}

    func reduce(bucket: Int, span: Range<Int>, gradients: UnsafeMutablePointer<Float>, transport: GradientTransport) throws {
        let n = span.count
        guard n > 0 else { return }
        let x = gradients + span.lowerBound
        let block = (n + world - 1) / world
        let length = min(block, transport.blockChunkLength)
        precondition(block * world <= capacity, "bucket of \(n) elements larger than the codec's scratch")

        // Round this rank's values into the chunked layout: piece (r, lo..<hi) at lo*W + r*(hi-lo).
        forEachPiece(block: block, length: length) { r, lo, hi, at in
            let first = r * block + lo, valid = max(0, min(hi - lo, n - first))
            if valid > 0 { BFloat16.encode(x + first, into: send + at, count: valid) }
            if valid < hi - lo { (send + at + valid).initialize(repeating: 0, count: hi - lo - valid) }
        }
        try transport.allToAll(send, count: block, into: received)

        // This rank's block: the W contributions added in float32, in rank order, then rounded to bf16.
        var lo = 0
        while lo < block {
            let hi = min(block, lo + length), width = hi - lo
            let region = received + lo * world
            for j in 0..<width {
                var sum: Float = 0
                for s in 0..<world { sum += BF16Sum.float(region[s * width + j]) }
                blockSum[lo + j] = sum
            }
            lo = hi
        }
        BFloat16.encode(blockSum, into: blockBF16, count: block)
        try transport.allGather(blockBF16, count: block, into: gathered)

        forEachPiece(block: block, length: length) { r, lo, hi, at in
            let first = r * block + lo, valid = max(0, min(hi - lo, n - first))
            if valid > 0 { BFloat16.decode(gathered + at, into: x + first, count: valid) }
        }
    }

    /// Calls `body(r, lo, hi, offset)` for every block r and chunk lo..<hi of it, with the piece's offset in the
    /// chunked layout.
    private func forEachPiece(block: Int, length: Int, _ body: (Int, Int, Int, Int) -> Void) {
        var lo = 0
        while lo < block {
            let hi = min(block, lo + length)
            for r in 0..<world { body(r, lo, hi, lo * world + r * (hi - lo)) }
            lo = hi
        }
    }

    @inline(__always)
    static func float(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }
}
