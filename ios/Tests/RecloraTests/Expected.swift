import Foundation
import Reclora

/// The fixture's expected.txt (written by reclora-ffi-fixture into $RECLORA_FIXTURE): the
/// scenario's inputs and the Rust results.
struct Expected {
    let root: URL
    let threads: Int32
    let profile: [String: String]
    let events: [UserEvent]
    let candidates: [Int64]
    let scores: [Double]
    let top3: [(Int64, Double)]
    let unknownItem: Int64

    var bundle: URL { root.appendingPathComponent("bundle") }
    var corruptBundle: URL { root.appendingPathComponent("corrupt-bundle") }

    static func load() throws -> Expected {
        guard let dir = ProcessInfo.processInfo.environment["RECLORA_FIXTURE"] else {
            throw CocoaError(.fileNoSuchFile)
        }
        let root = URL(fileURLWithPath: dir)
        let text = try String(contentsOf: root.appendingPathComponent("expected.txt"), encoding: .utf8)
        var lines: [String: [String]] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let parts = line.split(separator: " ").map(String.init)
            lines[parts[0]] = Array(parts.dropFirst())
        }
        func values(_ key: String) -> [String] { lines[key] ?? [] }
        var profile: [String: String] = [:]
        for field in values("profile") {
            let pair = field.split(separator: "=", maxSplits: 1).map(String.init)
            profile[pair[0]] = pair[1]
        }
        let events = values("events").map { text -> UserEvent in
            let parts = text.split(separator: ":").map(String.init)
            let feedback: Feedback
            switch parts[1] {
            case "like": feedback = .like
            case "dislike": feedback = .dislike
            default: feedback = .rating(stars: Int32(parts[1])!)
            }
            return UserEvent(itemId: Int64(parts[0])!, feedback: feedback, timestampSeconds: Int64(parts[2])!)
        }
        return Expected(
            root: root,
            threads: Int32(values("threads")[0])!,
            profile: profile,
            events: events,
            candidates: values("candidates").map { Int64($0)! },
            scores: values("scores").map { Double($0)! },
            top3: values("top3").map { pair in
                let parts = pair.split(separator: ":").map(String.init)
                return (Int64(parts[0])!, Double(parts[1])!)
            },
            unknownItem: Int64(values("unknown_item")[0])!)
    }
}
