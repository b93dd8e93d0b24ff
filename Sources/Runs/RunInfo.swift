import Foundation
import Kernels

/// Facts about this build and machine recorded in every run's config.json.
public enum RunInfo {
    /// The git commit of the source tree this binary was built from, when it is still there.
    public static func gitCommit() -> String {
        let sourceDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
        let pipe = Pipe()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["git", "-C", sourceDir, "rev-parse", "HEAD"]
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "unknown" }
        process.waitUntilExit()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        return process.terminationStatus == 0 && !out.isEmpty ? out : "unknown"
    }

    public static func collect(command: String) -> [String: String] {
        var info = ["git_commit": gitCommit(), "command": command,
                    "openblas_core": BLAS.coreName, "openblas_config": BLAS.configuration,
                    "host": ProcessInfo.processInfo.hostName, "cpu": CPUFeatures.current.summary,
                    "bf16_instructions": CPUFeatures.current.hasFastBF16 ? "yes" : "no",
                    "convolutions": ConvolutionLibrary.description,
                    "started": ISO8601DateFormatter().string(from: Date())]
        #if swift(>=6.3)
        info["swift"] = "6.3+"
        #else
        info["swift"] = "<6.3"
        #endif
        return info
    }
}
