import Foundation
import XCTest
import Datasets

final class SyntheticShapesTests: XCTestCase {
    func testDeterministicInSeed() {
        let a = SyntheticShapes.generate(trainCount: 40, testCount: 10, seed: 5)
        let b = SyntheticShapes.generate(trainCount: 40, testCount: 10, seed: 5)
        let c = SyntheticShapes.generate(trainCount: 40, testCount: 10, seed: 6)
        XCTAssertEqual(a.train.pixels, b.train.pixels)
        XCTAssertEqual(a.test.pixels, b.test.pixels)
        XCTAssertNotEqual(a.train.pixels, c.train.pixels)
        XCTAssertNotEqual(a.train.pixels.prefix(3072 * 10), a.test.pixels.prefix(3072 * 10))
        // image i does not depend on how many images are generated
        XCTAssertEqual(SyntheticShapes.render(count: 5, seed: 5).pixels, Array(a.train.pixels.prefix(5 * 3072)))
    }

    func testSyntheticFilesRefuseWhatHasNoLayoutNamingTheSetting() throws {
        func refusal(_ change: (inout SyntheticFiles) -> Void) -> String? {
            var files = SyntheticFiles()
            change(&files)
            do { try files.validate(); return nil } catch { return "\(error)" }
        }
        XCTAssertNil(refusal { _ in })
        XCTAssertNil(refusal { $0.imageSize = 96 })
        XCTAssertNil(refusal { ($0.layout, $0.imageSize) = (.folder, 16) })
        XCTAssert(refusal { $0.imageSize = 33 }?.contains("`imageSize` 33: the CIFAR-10 layout holds 32x32") == true)
        XCTAssert(refusal { $0.classes = 11 }?.contains("`classes` 11 must lie in 1...10") == true)
        XCTAssert(refusal { $0.testCount = 0 }?.contains("`testCount` must be at least 1") == true)
        // `write` checks first: nothing is written.
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-files-\(UUID().uuidString)").path
        var files = SyntheticFiles()
        files.classes = 0
        XCTAssertThrowsError(try files.write(to: root))
        XCTAssertFalse(FileManager.default.fileExists(atPath: root))
    }

    func testAllClassesPresentAndBalanced() {
        let d = SyntheticShapes.generate(trainCount: 100, testCount: 30, seed: 1)
        XCTAssertEqual(d.train.classCounts, [Int](repeating: 10, count: 10))
        XCTAssertEqual(Set(d.test.labels), Set(0..<10))
        XCTAssertEqual(d.train.classNames, SyntheticShapes.classNames)
        let three = SyntheticShapes.generate(classes: 3, trainCount: 9, testCount: 3, imageSize: 16, seed: 1)
        XCTAssertEqual(three.train.classCounts, [3, 3, 3])
        XCTAssertEqual(three.train.height, 16)
    }

    /// Colour carries no class information: a nearest-class-mean classifier on the mean RGB of an image
    /// scores near chance (10 %). With 2000 test images chance has sd ~0.7 %; 16 % is far outside it.
    func testMeanColourDoesNotPredictTheClass() {
        let d = SyntheticShapes.generate(trainCount: 3000, testCount: 2000, seed: 9)
        func meanColour(_ images: LabeledImages, _ i: Int) -> SIMD3<Double> {
            var s = SIMD3<Double>(repeating: 0)
            let img = images.image(at: i)
            var k = img.startIndex
            while k < img.endIndex {
                s += SIMD3(Double(img[k]), Double(img[k + 1]), Double(img[k + 2]))
                k += 3
            }
            return s / Double(images.height * images.width)
        }
        var centroids = [SIMD3<Double>](repeating: .zero, count: 10)
        for i in 0..<d.train.count { centroids[d.train.labels[i]] += meanColour(d.train, i) }
        let counts = d.train.classCounts
        for c in 0..<10 { centroids[c] /= Double(counts[c]) }
        var correct = 0
        for i in 0..<d.test.count {
            let m = meanColour(d.test, i)
            let predicted = (0..<10).min { (centroids[$0] - m).squaredLength < (centroids[$1] - m).squaredLength }!
            if predicted == d.test.labels[i] { correct += 1 }
        }
        let accuracy = Double(correct) / Double(d.test.count)
        print("nearest mean-colour accuracy: \(accuracy)")
        XCTAssertLessThan(accuracy, 0.16)
    }

    /// Every image is drawn with its own colours, placement and noise.
    func testImagesAreDistinct() {
        let d = SyntheticShapes.generate(trainCount: 20, testCount: 1, seed: 2)
        var distinct = Set<[UInt8]>()
        for i in 0..<d.train.count { distinct.insert(Array(d.train.image(at: i))) }
        XCTAssertEqual(distinct.count, 20)
    }

    func testWritesCIFARDirectory() throws {
        let dir = try makeTemporaryDirectory(self)
        let out = try SyntheticShapes.writeCIFAR(to: dir, trainCount: 30, testCount: 10, seed: 3)
        XCTAssertEqual(out, path(dir, "cifar-10-batches-bin"))
        let d = SyntheticShapes.generate(trainCount: 30, testCount: 10, seed: 3)
        let train = try loadDataset(at: dir, split: .train)
        XCTAssertEqual(train.pixels, d.train.pixels)
        XCTAssertEqual(train.labels, d.train.labels)
        XCTAssertEqual(train.classNames, SyntheticShapes.classNames)
        XCTAssertEqual(try loadDataset(at: dir, split: .test).pixels, d.test.pixels)
    }
}

extension SIMD3 where Scalar == Double {
    var squaredLength: Double { (self * self).sum() }
}
