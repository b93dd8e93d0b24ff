import Foundation
import XCTest
import Datasets

final class DatasetFormatTests: XCTestCase {
    func testDetection() throws {
        let root = try makeTemporaryDirectory(self)
        let cifar = try CIFAR10.writeDirectory(train: randomImages(count: 4, size: 32, seed: 1),
                                               test: randomImages(count: 2, size: 32, seed: 2), to: path(root, "c"))
        XCTAssertEqual(try DatasetFormat.detect(at: cifar), DatasetLocation(format: .cifar10, directory: cifar))
        XCTAssertEqual(try DatasetFormat.detect(at: path(root, "c")), DatasetLocation(format: .cifar10, directory: cifar))
        XCTAssertEqual(try loadDataset(at: path(root, "c"), split: .test).count, 2)
        XCTAssertEqual(try loadDataset(at: path(root, "c"), format: .cifar10, split: .train).count, 4)

        let stl = path(path(root, "s"), "stl10_binary")
        try FileManager.default.createDirectory(atPath: stl, withIntermediateDirectories: true)
        try STL10.write(randomImages(count: 2, size: 96, seed: 3), imagesPath: path(stl, "train_X.bin"),
                        labelsPath: path(stl, "train_y.bin"))
        XCTAssertEqual(try DatasetFormat.detect(at: stl).format, .stl10)
        XCTAssertEqual(try DatasetFormat.detect(at: path(root, "s")), DatasetLocation(format: .stl10, directory: stl))
        XCTAssertEqual(try loadDataset(at: path(root, "s"), split: .train).count, 2)
        XCTAssertEqual(DatasetSplit.pretraining(for: .stl10), .trainPlusUnlabeled)
        XCTAssertEqual(DatasetSplit.pretraining(for: .cifar10), .train)

        assertDatasetError(try DatasetFormat.detect(at: root), mentions: root) {
            if case .unknownFormat = $0 { return true } else { return false }
        }
        assertDatasetError(try DatasetFormat.detect(at: path(root, "missing")), mentions: "missing") {
            if case .missing = $0 { return true } else { return false }
        }
        // an empty cifar-10-batches-bin is reported as such, not as an unknown format
        try FileManager.default.createDirectory(atPath: path(path(root, "e"), "cifar-10-batches-bin"),
                                                withIntermediateDirectories: true)
        assertDatasetError(try DatasetFormat.detect(at: path(root, "e")), mentions: "cifar-10-batches-bin") {
            if case .noDataFiles = $0 { return true } else { return false }
        }
    }
}
