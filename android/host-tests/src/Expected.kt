package dev.reclora.test

import dev.reclora.ffi.Feedback
import dev.reclora.ffi.UserEvent
import java.io.File

/** The fixture's `expected.txt`: the scenario's inputs and the Rust results. */
class Expected(val dir: File) {
    private val lines: Map<String, List<String>> = File(dir, "expected.txt").readLines()
        .filter { it.isNotBlank() && !it.startsWith("#") }
        .associate { line -> line.split(" ").let { it[0] to it.drop(1) } }

    private fun values(key: String) = lines[key] ?: error("expected.txt has no `$key`")

    val bundle = File(dir, "bundle")
    val corruptBundle = File(dir, "corrupt-bundle")
    val threads = values("threads").single().toInt()
    val profile: Map<String, String> =
        values("profile").associate { it.substringBefore('=') to it.substringAfter('=') }
    val events: List<UserEvent> = values("events").map { text ->
        val (item, feedback, time) = text.split(":")
        val parsed = when (feedback) {
            "like" -> Feedback.Like
            "dislike" -> Feedback.Dislike
            else -> Feedback.Rating(feedback.toInt())
        }
        UserEvent(item.toLong(), parsed, time.toLong())
    }
    val candidates: List<Long> = values("candidates").map { it.toLong() }
    val scores: List<Double> = values("scores").map { it.toDouble() }
    val top3: List<Pair<Long, Double>> = values("top3").map {
        it.substringBefore(':').toLong() to it.substringAfter(':').toDouble()
    }
    val unknownItem = values("unknown_item").single().toLong()
}
