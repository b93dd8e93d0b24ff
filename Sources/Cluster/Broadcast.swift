import Foundation
import Kernels

extension ProcessGroup {
    /// Broadcasts the root's tensor into every rank's tensor. All tensors must have the same element count
    /// (a mismatch is a programming error MPI may or may not detect; use the array form when sizes differ).
    public func broadcast(_ tensor: Tensor, root: Int = 0) throws {
        try tensor.withUnsafeMutableBufferPointer {
            try broadcast(UnsafeMutableRawPointer($0.baseAddress!), count: $0.count, kind: .float, root: root)
        }
    }

    /// Broadcasts the root's array; other ranks' arrays take its length and contents.
    public func broadcast<T: MPIElement>(_ values: inout [T], root: Int = 0) throws {
        var count = Int64(values.count)
        try broadcast(&count, count: 1, kind: .int64, root: root)
        if rank != root && values.count != Int(count) {
            values = [T](repeating: 0, count: Int(count))
        }
        guard count > 0 else { return }
        try values.withUnsafeMutableBytes { try broadcast($0.baseAddress!, count: Int(count), kind: T.mpiElementKind, root: root) }
    }

    /// The root's value on every rank.
    public func broadcast(_ value: Int, root: Int = 0) throws -> Int {
        var v = Int64(value)
        try broadcast(&v, count: 1, kind: .int64, root: root)
        return Int(v)
    }

    /// The root's bytes on every rank.
    public func broadcast(_ data: Data, root: Int = 0) throws -> Data {
        var bytes = [UInt8](data)
        try broadcast(&bytes, root: root)
        return Data(bytes)
    }

    /// The root's string on every rank (sent as UTF-8).
    public func broadcast(_ string: String, root: Int = 0) throws -> String {
        var bytes = Array(string.utf8)
        try broadcast(&bytes, root: root)
        return String(decoding: bytes, as: UTF8.self)
    }
}
