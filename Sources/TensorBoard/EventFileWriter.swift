import Foundation

/// Writes `DIR/events.out.tfevents.<seconds>.<host>` for `tensorboard --logdir`: the file-version event first,
/// then scalar summaries. Each record goes straight to the file (no buffering) so TensorBoard shows the curves
/// while the run goes on.
public final class EventFileWriter {
    public let url: URL
    private let handle: FileHandle
    private let clock: () -> Double

    public static let fileVersion = "brain.Event:2"

    /// A new event file in `directory` (created if needed). `fresh` removes the directory's earlier event files,
    /// for a run that starts over; a resumed run passes `resumingAtStep` (the first step it will log) instead,
    /// so readers drop what earlier files hold from that step on.
    public init(directory: URL, fresh: Bool, resumingAtStep: Int? = nil,
                clock: @escaping () -> Double = { Date().timeIntervalSince1970 }) throws {
        let files = FileManager.default
        try files.createDirectory(at: directory, withIntermediateDirectories: true)
        if fresh {
            for name in (try? files.contentsOfDirectory(atPath: directory.path)) ?? [] where name.hasPrefix("events.out.tfevents.") {
                try files.removeItem(at: directory.appendingPathComponent(name))
            }
        }
        self.clock = clock
        let host = ProcessInfo.processInfo.hostName.split(separator: ".").first.map(String.init) ?? "localhost"
        let stem = "events.out.tfevents.\(Int(clock())).\(host)"
        // Two writers in one second (a quick restart) must not share a file; readers take files in name order.
        var candidate = directory.appendingPathComponent(stem)
        var n = 1
        while files.fileExists(atPath: candidate.path) {
            candidate = directory.appendingPathComponent("\(stem).\(n)")
            n += 1
        }
        url = candidate
        // open(2) rather than FileManager.createFile, whose failure carries no reason (a read-only tb/).
        let fd = open(url.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        try write(TensorBoardEvent(wallTime: clock(), step: 0, content: .fileVersion(Self.fileVersion)))
        if let step = resumingAtStep {
            try write(TensorBoardEvent(wallTime: clock(), step: Int64(step), content: .sessionStart))
        }
    }

    deinit { try? handle.close() }

    public func write(_ event: TensorBoardEvent) throws {
        try handle.write(contentsOf: Data(TFRecord.frame(event.encoded)))
    }

    /// One point on each tag's curve at `step`; non-finite values are kept (TensorBoard shows NaN/inf).
    public func add(scalars: [(tag: String, value: Double)], step: Int) throws {
        guard !scalars.isEmpty else { return }
        try write(TensorBoardEvent(wallTime: clock(), step: Int64(step),
                                   content: .scalars(scalars.map { .init(tag: $0.tag, value: Float($0.value)) })))
    }
}
