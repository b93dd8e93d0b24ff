import Foundation

// Shared by every fuzz target: libFuzzer calls `LLVMFuzzerTestOneInput` with each input; the target's
// `fuzz(_:)` must return normally for every input (errors are expected, traps and memory errors are bugs).

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = count > 0 && bytes != nil ? Data(bytes: bytes!, count: count) : Data()
    fuzz(data)
    return 0
}

/// The input with its 8-byte safetensors header length set to the length of the JSON object that follows
/// (braces counted outside strings), or nil when no object closes. Byte mutations inside a header change
/// its length; without this almost every one would only reach the length check.
func withHeaderLengthFixed(_ data: Data) -> Data? {
    let bytes = [UInt8](data)
    guard bytes.count > 8, bytes[8] == UInt8(ascii: "{") else { return nil }
    var depth = 0, inString = false, escaped = false
    for i in 8..<bytes.count {
        let b = bytes[i]
        if inString {
            if escaped { escaped = false } else if b == UInt8(ascii: "\\") { escaped = true } else if b == UInt8(ascii: "\"") { inString = false }
            continue
        }
        switch b {
        case UInt8(ascii: "\""): inString = true
        case UInt8(ascii: "{"): depth += 1
        case UInt8(ascii: "}"):
            depth -= 1
            if depth == 0 {
                var fixed = withUnsafeBytes(of: UInt64(i - 7).littleEndian) { Data($0) }
                fixed.append(contentsOf: bytes[8...])
                return fixed
            }
        default: break
        }
    }
    return nil
}
