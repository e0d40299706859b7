package dev.reclora.test

import dev.reclora.RecloraRecommender
import dev.reclora.example.topPicks
import dev.reclora.ffi.RecloraException
import dev.reclora.ffi.Recommender
import java.io.File
import java.nio.file.Files
import java.util.concurrent.Executors
import kotlin.math.abs
import kotlin.test.assertContentEquals
import kotlin.test.assertEquals
import kotlin.test.assertFailsWith
import kotlin.test.assertTrue
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitAll
import kotlinx.coroutines.runBlocking

/**
 * The bindings scenario on the host JVM, against the host build of libreclora_ffi and the
 * fixture that `reclora-ffi-fixture` wrote: `java ... dev.reclora.test.HostTestsKt FIXTURE_DIR`.
 */
fun main(args: Array<String>) {
    val expected = Expected(File(args.single()))
    val scratch = Files.createTempDirectory("reclora-kotlin").toFile()
    val options = RecloraRecommender.cpuOptions(threads = expected.threads)
    var n = 0
    fun historyFile() = File(scratch, "history-${n++}.bin")

    /** A recommender holding the scenario's user (profile and 20 events). */
    suspend fun withUser(history: File = historyFile()): RecloraRecommender {
        val reclora = RecloraRecommender.open(expected.bundle, history, options)
        reclora.setProfile(expected.profile)
        reclora.recordEvents(expected.events)
        return reclora
    }

    fun assertClose(want: List<Double>, got: List<Double>, what: String) {
        assertEquals(want.size, got.size, what)
        for (i in want.indices) {
            assertTrue(abs(want[i] - got[i]) <= 1e-6, "$what[$i]: want ${want[i]}, got ${got[i]}")
        }
    }

    runCases(listOf(
        Case("open, record 20 events, reopen: the history persisted") {
            runBlocking {
                val history = historyFile()
                RecloraRecommender.open(expected.bundle, history, options).use { reclora ->
                    reclora.setProfile(expected.profile)
                    for (event in expected.events) reclora.recordEvent(event)
                    assertEquals(20L, reclora.historyLength())
                }
                RecloraRecommender.open(expected.bundle, history, options).use { reclora ->
                    assertEquals(20L, reclora.historyLength())
                    assertClose(expected.scores, reclora.score(expected.candidates), "after reopen")
                }
            }
        },
        Case("score 10 candidates: equal to the Rust results to 1e-6") {
            runBlocking {
                withUser().use { reclora ->
                    val scores = reclora.score(expected.candidates)
                    assertClose(expected.scores, scores, "scores")
                    assertTrue(scores.any { abs(it - scores[0]) > 1e-4 }, "scores differ: $scores")
                }
            }
        },
        Case("rank the top 3") {
            runBlocking {
                withUser().use { reclora ->
                    val top = reclora.rank(expected.candidates, 3)
                    assertEquals(expected.top3.map { it.first }, top.map { it.itemId })
                    assertClose(expected.top3.map { it.second }, top.map { it.score }, "top 3")
                }
            }
        },
        Case("errors arrive as typed exceptions") {
            runBlocking {
                val io = assertFailsWith<RecloraException.Io> {
                    RecloraRecommender.open(File(scratch, "no-such-bundle"), historyFile(), options)
                }
                assertTrue(io.reason.contains("no-such-bundle"), io.reason)
                val corrupt = assertFailsWith<RecloraException.BundleInvalid> {
                    RecloraRecommender.open(expected.corruptBundle, historyFile(), options)
                }
                assertTrue(corrupt.reason.contains("llm.safetensors"), corrupt.reason)
                val reclora = withUser()
                assertFailsWith<RecloraException.InvalidArgument> { reclora.score(emptyList()) }
                val unknown = assertFailsWith<RecloraException.UnknownItem> {
                    reclora.score(listOf(5L, expected.unknownItem))
                }
                assertEquals(expected.unknownItem, unknown.itemId)
                assertFailsWith<RecloraException.InvalidArgument> { reclora.recordRating(5, 9, 0) }
                reclora.close()
                reclora.close() // idempotent
                assertFailsWith<RecloraException.Closed> { reclora.score(expected.candidates) }
                assertFailsWith<RecloraException.Closed> { reclora.historyLength() }
            }
        },
        Case("4 threads x 100 calls equal serial calls") {
            val pool = Executors.newFixedThreadPool(4)
            try {
                runBlocking {
                    val dispatcher = pool.asCoroutineDispatcher()
                    val history = historyFile()
                    withUser(history).close()
                    RecloraRecommender.open(expected.bundle, history, options, dispatcher).use { reclora ->
                        val slates = (0 until 4).map { expected.candidates.subList(it, it + 2) }
                        val serial = slates.map { reclora.score(it) }
                        val threads = java.util.Collections.synchronizedSet(mutableSetOf<String>())
                        val results = slates.map { slate ->
                            async(dispatcher) {
                                (0 until 100).map {
                                    threads.add(Thread.currentThread().name)
                                    reclora.score(slate)
                                }
                            }
                        }.awaitAll()
                        for ((t, calls) in results.withIndex()) {
                            for (got in calls) assertContentEquals(serial[t], got, "slate $t")
                        }
                        assertEquals(400, results.sumOf { it.size })
                        assertTrue(threads.size > 1, "ran on $threads")
                    }
                }
            } finally {
                pool.shutdown()
            }
        },
        Case("a panic inside Rust arrives as an exception, and the next call works") {
            val history = historyFile()
            runBlocking { withUser(history).close() }
            val native = Recommender.open(expected.bundle.path, history.path, options)
            val panic = assertFailsWith<RecloraException.Internal> { native.panicForTest("boom from Kotlin") }
            assertTrue(panic.reason.contains("boom from Kotlin"), panic.reason)
            assertClose(expected.scores, native.score(expected.candidates), "after the panic")
            assertEquals(20L, native.historyLength())
            native.closeRecommender()
            native.close()
        },
        Case("clearHistory forgets the events, keeps the profile") {
            runBlocking {
                withUser().use { reclora ->
                    reclora.clearHistory()
                    assertEquals(0L, reclora.historyLength())
                    val scores = reclora.score(expected.candidates)
                    assertTrue(abs(scores[0] - expected.scores[0]) > 1e-6, "history matters")
                }
            }
        },
        Case("the README example ranks like score()") {
            runBlocking {
                val files = Files.createTempDirectory(scratch.toPath(), "app").toFile()
                val top = topPicks(expected.bundle, files, expected.candidates)
                RecloraRecommender.open(expected.bundle, File(files, "history.bin"), options).use { reclora ->
                    assertEquals(1L, reclora.historyLength())
                    val scores = reclora.score(expected.candidates)
                    val best = expected.candidates.zip(scores).sortedByDescending { it.second }.take(3)
                    assertEquals(best.map { it.first }, top.map { it.itemId })
                    assertClose(best.map { it.second }, top.map { it.score }, "example")
                }
            }
        },
    ))
    scratch.deleteRecursively()
}
