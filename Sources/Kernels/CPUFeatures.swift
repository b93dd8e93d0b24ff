import CKernels
import Foundation

/// What this CPU and OS offer the kernels, read once with cpuid (x86-64).
public struct CPUFeatures: Codable, Equatable {
    public var vendor: String
    public var model: String
    public var avx2: Bool, fma: Bool, avx512f: Bool, avx512bw: Bool, avx512vl: Bool
    /// `vdpbf16ps` and `vcvtneps2bf16` (Cooper Lake, Sapphire Rapids, Zen 4 and later).
    public var avx512BF16: Bool
    /// AMX tiles with bf16 (Sapphire Rapids and later), and whether the OS lets this process use them.
    public var amxTile: Bool, amxBF16: Bool, amxUsable: Bool
    /// Nominal and maximum clock from cpuid leaf 0x16 (0 when the CPU does not report it).
    public var baseMHz: Int, maxMHz: Int

    public static let current: CPUFeatures = {
        var f = sk_cpu_features()
        sk_cpu_features_read(&f)
        func text<T>(_ tuple: T) -> String {
            withUnsafeBytes(of: tuple) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            }
        }
        var features = CPUFeatures(vendor: text(f.vendor), model: text(f.brand),
                           avx2: f.avx2 != 0, fma: f.fma != 0, avx512f: f.avx512f != 0, avx512bw: f.avx512bw != 0,
                           avx512vl: f.avx512vl != 0, avx512BF16: f.avx512_bf16 != 0, amxTile: f.amx_tile != 0,
                           amxBF16: f.amx_bf16 != 0, amxUsable: f.amx_os_enabled != 0,
                           baseMHz: Int(f.base_mhz), maxMHz: Int(f.max_mhz))
        // SIMCLR_HIDE_CPU_FEATURES=avx512_bf16,amx makes this CPU look like one without them (to see, and test,
        // what the tool does on such a machine).
        let hidden = Set((ProcessInfo.processInfo.environment["SIMCLR_HIDE_CPU_FEATURES"] ?? "").split(separator: ",").map(String.init))
        if hidden.contains("avx512_bf16") { features.avx512BF16 = false }
        if hidden.contains("amx") { features.amxTile = false; features.amxBF16 = false; features.amxUsable = false }
        return features
    }()

    /// bf16 arithmetic at full speed needs AVX512_BF16 or usable AMX tiles.
    public var hasFastBF16: Bool { (avx512BF16 && avx512vl) || (amxBF16 && amxUsable) }

    /// float32 lanes of one FMA instruction: 16 with AVX-512, 8 with AVX2/FMA, 4 otherwise.
    public var fp32Lanes: Int { avx512f ? 16 : (avx2 && fma ? 8 : 4) }

    /// One line for logs, e.g. "AMD EPYC (avx512f avx512_bf16; no amx)".
    public var summary: String {
        var flags: [String] = []
        if avx2 { flags.append("avx2") }
        if fma { flags.append("fma") }
        if avx512f { flags.append("avx512f") }
        if avx512BF16 { flags.append("avx512_bf16") }
        if amxTile { flags.append("amx_tile") }
        if amxBF16 { flags.append("amx_bf16") }
        let amx = amxTile ? (amxUsable ? "AMX tiles usable" : "AMX tiles not granted by the OS") : "no AMX"
        let name = model.isEmpty ? vendor : model
        return "\(name) (\(flags.joined(separator: " ")); \(amx))"
    }
}
