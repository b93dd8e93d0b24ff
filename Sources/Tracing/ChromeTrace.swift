import Foundation

/// Chrome's trace event format (the JSON that chrome://tracing, Perfetto and speedscope open): one process per
/// rank, one thread row per track, complete events ("ph": "X") for spans, which the viewers nest by time
/// containment, and instant events ("ph": "i") for marks. Times are microseconds from the tracer's origin.
///
/// A distributed run writes one file: every rank renders its own events (`events(of:rank:processName:)`),
/// rank 0 joins the pieces (`document(joining:)`).
public enum ChromeTrace {
    /// The JSON objects (comma-separated, no brackets) of one rank's tracks: a process named
    /// `processName`, sorted by rank, and a row per track with at least one event.
    public static func events(of tracer: Tracer, rank: Int, processName: String) -> String {
        let names = tracer.nameTable
        var out: [String] = [
            #"{"name":"process_name","ph":"M","pid":\#(rank),"tid":0,"args":{"name":\#(quoted(processName))}}"#,
            #"{"name":"process_sort_index","ph":"M","pid":\#(rank),"tid":0,"args":{"sort_index":\#(rank)}}"#,
        ]
        for track in tracer.tracks {
            let events = track.events
            guard !events.isEmpty || track.dropped > 0 else { continue }
            let tid = track.order + 1
            var label = track.name
            if track.dropped > 0 { label += " (\(track.dropped) events dropped: trace buffer full)" }
            out.append(#"{"name":"thread_name","ph":"M","pid":\#(rank),"tid":\#(tid),"args":{"name":\#(quoted(label))}}"#)
            out.append(#"{"name":"thread_sort_index","ph":"M","pid":\#(rank),"tid":\#(tid),"args":{"sort_index":\#(tid)}}"#)
            // Parents before children: by start, then the longer span first.
            let ordered = events.sorted { $0.start != $1.start ? $0.start < $1.start : $0.duration > $1.duration }
            for e in ordered {
                let name = names.indices.contains(Int(e.name.id)) ? names[Int(e.name.id)] : "?"
                let ts = microseconds(Int64(bitPattern: e.start &- tracer.origin))
                var fields = #""name":\#(quoted(name)),"pid":\#(rank),"tid":\#(tid),"ts":\#(ts)"#
                if e.isInstant {
                    fields += #","ph":"i","s":"t""#
                } else {
                    fields += #","ph":"X","dur":\#(microseconds(Int64(e.duration)))"#
                }
                if e.argument != TraceEvent.noArgument { fields += #","args":{"value":\#(e.argument)}"# }
                out.append("{" + fields + "}")
            }
        }
        return out.joined(separator: ",\n")
    }

    /// The whole file from the ranks' pieces, in rank order.
    public static func document(joining pieces: [String]) -> String {
        "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n" + pieces.filter { !$0.isEmpty }.joined(separator: ",\n") + "\n]}\n"
    }

    /// Nanoseconds as microseconds with three decimals (the format's unit).
    public static func microseconds(_ ns: Int64) -> String {
        let sign = ns < 0 ? "-" : ""
        let a = ns.magnitude
        let frac = String(a % 1000)
        return sign + String(a / 1000) + "." + String(repeating: "0", count: 3 - frac.count) + frac
    }

    /// `s` as a JSON string literal (Foundation's encoder does the escaping).
    public static func quoted(_ s: String) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes]) else {
            return "\"?\""
        }
        return String(decoding: data, as: UTF8.self)
    }
}
