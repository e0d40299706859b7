// The README's Swift example; RecloraTests runs it against the test bundle.
import Foundation
import Reclora

func topPicks(bundleDir: URL, documents: URL, candidates: [Int64]) async throws -> [ScoredItem] {
    let reclora = try await RecloraRecommender.open(
        bundleDir: bundleDir, historyFile: documents.appendingPathComponent("history.bin"))
    defer { try? reclora.close() }
    try await reclora.setProfile(["user_id": "11", "gender": "F", "age": "25",
                                  "occupation": "12", "zip_code": "02139"])
    try await reclora.recordRating(itemId: 1, stars: 5, timestampSeconds: 978_300_000)
    return try await reclora.rank(candidates, topK: 3)  // best first, P(yes) in 0...1
}
