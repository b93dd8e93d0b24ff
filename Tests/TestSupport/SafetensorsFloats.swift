import Foundation

/// A minimal safetensors reader for tests that compare weight files written by the tool
/// (F32 tensors as floats, I64 counters converted), independent of the code under test.
public enum SafetensorsFloats {
    public static func read(_ url: URL) throws -> [String: [Float]] {
        let data = try Data(contentsOf: url)
        let headerLength = Int(data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
        let header = try JSONSerialization.jsonObject(with: data.subdata(in: 8..<(8 + headerLength))) as! [String: Any]
        var out: [String: [Float]] = [:]
        for (name, value) in header where name != "__metadata__" {
            let info = value as! [String: Any]
            let offsets = (info["data_offsets"] as! [NSNumber]).map(\.intValue)
            let bytes = data.subdata(in: (8 + headerLength + offsets[0])..<(8 + headerLength + offsets[1]))
            switch info["dtype"] as! String {
            case "F32": out[name] = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
            case "I64": out[name] = bytes.withUnsafeBytes { $0.bindMemory(to: Int64.self).map { Float($0) } }
            default: continue
            }
        }
        return out
    }
}
