import Foundation
import Runs

/// What a resumed run may change (docs/run-files.md, 'Resuming'): its length (only longer: the learning-rate
/// schedule is recomputed for the new length), after a divergence its learning rate, and what the settings
/// type's `sameTrainingAs` ignores (how often to log or save). Anything else is refused, naming each setting
/// that differs with both values.
public struct ResumeSettings<Settings: TrainingSettings> {
    /// The checkpoint's settings as JSON, and this run's settings.
    public let savedJSON: String
    public let current: Settings
    /// Steps per epoch of this run's data (the same as the checkpoint's: other data is refused before).
    public let stepsPerEpoch: Int
    /// Whether the learning rate may change (the run diverged).
    public let mayChangeLearningRate: Bool

    public init(savedJSON: String, current: Settings, stepsPerEpoch: Int, mayChangeLearningRate: Bool) {
        self.savedJSON = savedJSON; self.current = current; self.stepsPerEpoch = stepsPerEpoch
        self.mayChangeLearningRate = mayChangeLearningRate
    }

    /// What the resumed run changes, or why it cannot resume.
    public func check() -> Result<ResumeChanges, ResumeRefusal> {
        guard let saved = decode(savedJSON), var tree = object(savedJSON), let now = object(current.json) else {
            return .failure(ResumeRefusal("its settings do not decode as this version's \(Settings.self) (written by another version of the tool?)"))
        }
        var changes = ResumeChanges()
        let savedSteps = totalSteps(saved), steps = totalSteps(current)
        if steps < savedSteps {
            return .failure(ResumeRefusal("it was written by a run of \(savedSteps) steps and this run has \(steps): a resumed run may be made longer, not shorter"))
        }
        if steps > savedSteps { changes.steps = (savedSteps, steps) }
        // The length as this run has it (a longer run may also switch between `epochs` and `steps`).
        for key in ["epochs", "steps"] { tree[key] = now[key] ?? NSNull() }
        if mayChangeLearningRate, saved.lr != current.lr {
            tree["lr"] = now["lr"]
            changes.learningRate = (saved.lr, current.lr)
        }
        guard let adjusted = decode(tree) else { return .failure(ResumeRefusal("its settings cannot be compared with this run's")) }
        if adjusted.sameTrainingAs(current) { return .success(changes) }
        // Name the settings that matter: a difference matters when taking every other difference from this run
        // still leaves the two unequal (`sameTrainingAs` ignores some, such as how often to log).
        let old = leaves(tree), new = leaves(now)
        let differing = Set(old.keys).union(new.keys).filter { text(old[$0]) != text(new[$0]) }.sorted()
        let named = differing.filter { key in
            var others = tree
            for other in differing where other != key { set(&others, path: other, to: new[other]) }
            return decode(others).map { !$0.sameTrainingAs(current) } ?? true
        }
        guard !named.isEmpty else { return .failure(ResumeRefusal("it was written with different settings; see config.json")) }
        let list = named.map { "`\($0)` \(text(old[$0])) (this run: \(text(new[$0])))" }
        return .failure(ResumeRefusal("it was written with other settings: " + list.joined(separator: ", ")))
    }

    private func totalSteps(_ settings: Settings) -> Int { settings.steps ?? settings.epochs * stepsPerEpoch }

    private func decode(_ json: String) -> Settings? { try? JSONDecoder().decode(Settings.self, from: Data(json.utf8)) }

    private func decode(_ tree: [String: Any]) -> Settings? {
        guard let data = try? JSONSerialization.data(withJSONObject: tree) else { return nil }
        return try? JSONDecoder().decode(Settings.self, from: data)
    }

    private func object(_ json: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any]
    }
}

/// What a resumed run changes from the run it continues.
public struct ResumeChanges {
    /// The run's length in steps, before and now (nil: unchanged).
    public var steps: (saved: Int, now: Int)?
    /// The base learning rate, before and now, of a run that diverged (nil: unchanged).
    public var learningRate: (saved: Float, now: Float)?
}

/// Why a checkpoint's settings cannot be continued (names settings in backquotes, as `SettingsError` does).
public struct ResumeRefusal: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// The values of a JSON object by their dotted paths ("model.width"); arrays are values.
private func leaves(_ tree: [String: Any], prefix: String = "") -> [String: Any] {
    var result: [String: Any] = [:]
    for (key, value) in tree {
        if let nested = value as? [String: Any] {
            result.merge(leaves(nested, prefix: prefix + key + ".")) { a, _ in a }
        } else {
            result[prefix + key] = value
        }
    }
    return result
}

/// `tree` with the value at a dotted path replaced (removed when `value` is nil).
private func set(_ tree: inout [String: Any], path: String, to value: Any?) {
    let parts = path.split(separator: ".", maxSplits: 1).map(String.init)
    if parts.count == 1 {
        tree[parts[0]] = value
    } else {
        var nested = tree[parts[0]] as? [String: Any] ?? [:]
        set(&nested, path: parts[1], to: value)
        tree[parts[0]] = nested
    }
}

/// A JSON value as a person reads it: 0.5, [0.08,1], "cosine" without quotes, "none" when absent.
private func text(_ value: Any?) -> String {
    guard let value, !(value is NSNull) else { return "none" }
    if let string = value as? String { return string }
    guard let data = try? JSONSerialization.data(withJSONObject: [value], options: [.sortedKeys]),
          let json = String(data: data, encoding: .utf8) else { return "\(value)" }
    return String(json.dropFirst().dropLast())
}
