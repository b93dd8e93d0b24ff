import Datasets
import Foundation

// The PNG and JPEG decoders (libpng and libjpeg-turbo behind the C wrappers), then the resize to 8 px.

func fuzz(_ data: Data) {
    guard let image = try? ImageDecoder.decode(data, file: "fuzz-input") else { return }
    _ = ImageFolder.resizedCenterCrop(image, size: 8)
}
