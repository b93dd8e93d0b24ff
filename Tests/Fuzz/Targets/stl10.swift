import Datasets
import Foundation

// The STL-10 reader on an `*_X.bin` file's bytes and its labels. An input is: a 16-bit little-endian
// label count L (0xFFFF: no labels file), L label bytes, then the image bytes.

func fuzz(_ data: Data) {
    let bytes = [UInt8](data)
    guard bytes.count >= 2 else { return }
    let labelCount = Int(bytes[0]) | Int(bytes[1]) << 8
    let rest = bytes.dropFirst(2)
    let labels = labelCount == 0xFFFF ? nil : (bytes: Data(rest.prefix(labelCount)), file: "fuzz-labels")
    let images = Data(labelCount == 0xFFFF ? rest : rest.dropFirst(labelCount))
    _ = try? STL10.decode(images: images, file: "fuzz-images", labels: labels)
}
