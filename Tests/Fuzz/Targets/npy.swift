import Datasets
import Foundation

// The NumPy .npy reader, as floats and as int64s.

func fuzz(_ data: Data) {
    _ = try? NumpyFile.decodeFloats(data, path: "fuzz-input")
    _ = try? NumpyFile.decodeInt64s(data, path: "fuzz-input")
}
