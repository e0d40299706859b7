// The README's Kotlin example; HostTests.kt runs it against the test bundle.
package dev.reclora.example

import dev.reclora.RecloraRecommender
import dev.reclora.ffi.ScoredItem
import java.io.File

suspend fun topPicks(bundleDir: File, filesDir: File, candidates: List<Long>): List<ScoredItem> =
    RecloraRecommender.open(bundleDir, File(filesDir, "history.bin")).use { reclora ->
        reclora.setProfile(mapOf("user_id" to "11", "gender" to "F", "age" to "25",
            "occupation" to "12", "zip_code" to "02139"))
        reclora.recordRating(itemId = 1, stars = 5, timestampSeconds = 978_300_000)
        reclora.rank(candidates, topK = 3) // best first, P(yes) in 0..1
    }
