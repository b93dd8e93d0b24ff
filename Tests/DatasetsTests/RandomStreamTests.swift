import Datasets
import Kernels
import XCTest

final class RandomStreamTests: XCTestCase {
    func testStreamsAreFunctionsOfTheirKey() {
        func draws(_ s: RandomStream) -> [UInt64] { var s = s; return (0..<4).map { _ in s.next() } }
        let base = RandomStream(seed: 1, rank: 0, epoch: 0, sample: 0)
        XCTAssertEqual(draws(base), draws(RandomStream(seed: 1, rank: 0, epoch: 0, sample: 0)))
        for other in [RandomStream(seed: 2, rank: 0, epoch: 0, sample: 0), RandomStream(seed: 1, rank: 1, epoch: 0, sample: 0),
                      RandomStream(seed: 1, rank: 0, epoch: 1, sample: 0), RandomStream(seed: 1, rank: 0, epoch: 0, sample: 1),
                      RandomStream(seed: 1, rank: 0, epoch: 0, sample: 0, substream: 1)] {
            XCTAssertNotEqual(draws(base), draws(other))
        }
        // swapping two key components changes the stream
        XCTAssertNotEqual(draws(RandomStream(seed: 1, rank: 2, epoch: 3, sample: 0)),
                          draws(RandomStream(seed: 1, rank: 3, epoch: 2, sample: 0)))
    }

    func testDistributions() {
        var rng = RandomStream(seed: 42)
        let n = 20000
        var sum = 0.0, hits = 0
        var buckets = [Int](repeating: 0, count: 7)
        for _ in 0..<n {
            let u = rng.uniform(in: 2...5)
            XCTAssertTrue(u >= 2 && u <= 5)
            sum += u
            if rng.bernoulli(0.3) { hits += 1 }
            buckets[rng.int(below: 7)] += 1
        }
        // means within ~5 standard errors
        XCTAssertEqual(sum / Double(n), 3.5, accuracy: 5 * 3 / 12.0.squareRoot() / Double(n).squareRoot())
        XCTAssertEqual(Double(hits), 0.3 * Double(n), accuracy: 5 * (Double(n) * 0.21).squareRoot())
        for b in buckets { XCTAssertEqual(Double(b), Double(n) / 7, accuracy: 5 * (Double(n) / 7).squareRoot()) }
        let p = rng.permutation(100)
        XCTAssertEqual(p.sorted(), Array(0..<100))
        XCTAssertNotEqual(p, Array(0..<100))
    }
}
