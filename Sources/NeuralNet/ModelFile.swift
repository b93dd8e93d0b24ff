import Foundation
import Kernels

/// Saving and loading a model's parameters and BatchNorm buffers under torchvision's state_dict names.
extension ResNet {
    /// Which tensors of a file to load.
    public enum LoadScope {
        /// Every parameter and buffer; the file must hold exactly these (PyTorch's strict=True).
        case all
        /// Only the backbone (everything outside `fc`); `fc.*` entries in the file are ignored.
        case backbone
    }

    /// All tensors in state_dict order: for each layer its parameters, then its buffers.
    public func stateEntries() -> [(String, SafetensorsEntry)] {
        var out: [(String, SafetensorsEntry)] = []
        var bnByName: [String: BatchNorm] = [:]
        for bn in batchNorms { bnByName[bn.name] = bn }
        var emitted = Set<String>()
        for p in parameters {
            out.append((p.name, SafetensorsEntry(floats: p.value.array, shape: p.shape)))
            // After a BatchNorm's bias come its buffers, as in PyTorch's state_dict.
            if p.kind == .normBias, let bn = bnByName[String(p.name.dropLast(".bias".count))], !emitted.contains(bn.name) {
                emitted.insert(bn.name)
                out.append((bn.runningMean.name, SafetensorsEntry(floats: bn.runningMean.value.array, shape: bn.runningMean.shape)))
                out.append((bn.runningVar.name, SafetensorsEntry(floats: bn.runningVar.value.array, shape: bn.runningVar.shape)))
                out.append((bn.name + ".num_batches_tracked", SafetensorsEntry(int64: bn.numBatchesTracked)))
            }
        }
        return out
    }

    /// Writes the model atomically (temporary file, then rename) so a crash never leaves half a file.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        let data = Safetensors.serialize(stateEntries(), metadata: metadata)
        try AtomicFile.write(data, to: url)
    }

    /// Loads parameters and buffers from a model file or a training checkpoint (`WeightsFile`); throws (and
    /// changes nothing) when names, shapes or dtypes differ.
    public func load(from url: URL, scope: LoadScope = .all) throws {
        try load(tensors: WeightsFile(path: url.path).tensors, scope: scope)
    }

    /// Refuses (naming the tensor) values that are not finite numbers, like the file's names and shapes.
    public func load(tensors: [String: SafetensorsEntry], scope: LoadScope = .all) throws {
        let expected = stateEntries().filter { scope == .all || !$0.0.hasPrefix("fc.") }
        let expectedNames = Set(expected.map(\.0))
        for name in tensors.keys.sorted() where !expectedNames.contains(name) {
            if scope == .backbone && name.hasPrefix("fc.") { continue }
            throw SafetensorsError.unexpectedKey(name)
        }
        // Validate everything before touching the model.
        for (name, mine) in expected {
            guard let t = tensors[name] else { throw SafetensorsError.missingKey(name) }
            guard t.shape == mine.shape else { throw SafetensorsError.shapeMismatch(tensor: name, expected: mine.shape, found: t.shape) }
            if name.hasSuffix("num_batches_tracked") {
                guard t.dtype == .I64 else { throw SafetensorsError.dtypeMismatch(tensor: name, expected: "I64", found: t.dtype.rawValue) }
            } else if ![.F32, .F64, .F16, .BF16].contains(t.dtype) {
                throw SafetensorsError.dtypeMismatch(tensor: name, expected: "F32", found: t.dtype.rawValue)
            } else {
                try SafetensorsEntry.checkFinite(t.floats(), tensor: name)
            }
        }
        for p in parameters where expectedNames.contains(p.name) { p.value.copy(from: tensors[p.name]!.floats()) }
        for b in buffers where expectedNames.contains(b.name) { b.value.copy(from: tensors[b.name]!.floats()) }
        for bn in batchNorms where expectedNames.contains(bn.name + ".num_batches_tracked") {
            bn.numBatchesTracked = tensors[bn.name + ".num_batches_tracked"]!.int64s()[0]
        }
    }
}

/// Crash-safe file writes: write a temporary file beside the target, fsync it, rename over the target.
public enum AtomicFile {
    /// Writes `data` to a temporary file beside `url`, fsyncs it, renames it over `url` and fsyncs the
    /// directory (so the rename itself survives a power loss). Errors name the file; the old file is kept.
    public static func write(_ data: Data, to url: URL) throws {
        let dir = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw SafetensorsError.unreadable(path: tmp.path, reason: "cannot create temporary file")
        }
        let handle = try FileHandle(forWritingTo: tmp)
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(at: tmp)
            throw AtomicFileError(path: url.path, bytes: data.count, reason: SystemErrorText.reason(error))
        }
        if rename(tmp.path, url.path) != 0 {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: tmp)
            throw AtomicFileError(path: url.path, bytes: data.count, reason: "rename failed: \(reason)")
        }
        let fd = open(dir.path, O_RDONLY)
        guard fd >= 0 else { return }   // the file is in place; only the durability of the rename is unknown
        defer { close(fd) }
        if fsync(fd) != 0 {
            throw AtomicFileError(path: url.path, bytes: data.count, reason: "fsync of \(dir.path) failed: \(String(cString: strerror(errno)))")
        }
    }

}

/// A file that could not be written; the previous version of it, if any, is intact.
public struct AtomicFileError: Error, CustomStringConvertible {
    public var path: String
    public var bytes: Int
    public var reason: String

    public var description: String {
        "cannot write \(path) (\(bytes) bytes): \(reason); the previous version of the file, if any, is kept"
    }
}
