import Datasets
import Foundation

// The CIFAR-10 batch reader on a batch file's bytes, whole and with a limit of one record.

func fuzz(_ data: Data) {
    _ = try? CIFAR10.decodeBatch(data, file: "fuzz-input")
    _ = try? CIFAR10.decodeBatch(data, file: "fuzz-input", classNames: ["a", "b", "c"], limit: 1)
}
