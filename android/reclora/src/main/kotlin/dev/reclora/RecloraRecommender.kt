package dev.reclora

import dev.reclora.ffi.Backend
import dev.reclora.ffi.Feedback
import dev.reclora.ffi.GateMode
import dev.reclora.ffi.RecloraException
import dev.reclora.ffi.Recommender
import dev.reclora.ffi.RecommenderOptions
import dev.reclora.ffi.ScoredItem
import dev.reclora.ffi.UserEvent
import dev.reclora.ffi.UserProfile
import java.io.File
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.withContext

/**
 * The reclora on-device recommender: a model bundle, the user's local history and a
 * backend, scoring candidate items privately on the phone.
 *
 * Every function suspends and runs the native call on [Dispatchers.Default] (or the
 * dispatcher given to [open]), so it is safe to call from the main thread. Several calls
 * may run at once from any coroutines. Failures are thrown as the subclasses of
 * [RecloraException]: `BundleInvalid`, `Io`, `InvalidArgument`, `UnknownItem`, `Closed`
 * and `Internal`; a native panic arrives as `Internal`, never as a crash.
 *
 * Close it when done (`use { }`): that releases the memory-mapped bundle and the history
 * file at once instead of at garbage collection. Use one recommender per history file.
 */
class RecloraRecommender private constructor(
    private val native: Recommender,
    private val dispatcher: CoroutineDispatcher,
) : AutoCloseable {

    companion object {
        /**
         * Opens the bundle folder [bundleDir] and the history file [historyFile] (created
         * when absent).
         *
         * @throws RecloraException.Io when a path does not exist or cannot be read.
         * @throws RecloraException.BundleInvalid when the bundle is corrupt or inconsistent.
         * @throws RecloraException.InvalidArgument when an option is out of range.
         */
        suspend fun open(
            bundleDir: File,
            historyFile: File,
            options: RecommenderOptions = RecommenderOptions(),
            dispatcher: CoroutineDispatcher = Dispatchers.Default,
        ): RecloraRecommender = withContext(dispatcher) {
            RecloraRecommender(
                Recommender.open(bundleDir.path, historyFile.path, options),
                dispatcher,
            )
        }

        /** Options for the CPU with [threads] threads (0: one per core) and [gateMode]. */
        fun cpuOptions(threads: Int = 0, gateMode: GateMode = GateMode.PER_SAMPLE) =
            RecommenderOptions(backend = Backend.CPU, threads = threads, gateMode = gateMode)
    }

    /** Remembers one interaction; durable when this returns. */
    suspend fun recordEvent(event: UserEvent): Unit = io { native.recordEvent(event) }

    /** Remembers one interaction with [itemId], rated [stars] (1 to 5), at [timestampSeconds]. */
    suspend fun recordRating(itemId: Long, stars: Int, timestampSeconds: Long): Unit =
        recordEvent(UserEvent(itemId, Feedback.Rating(stars), timestampSeconds))

    /** Remembers [events] in order; an invalid one rejects all before anything is written. */
    suspend fun recordEvents(events: List<UserEvent>): Unit = io { native.recordEvents(events) }

    /** Replaces the user's profile (field names as in the bundle's `features.json`). */
    suspend fun setProfile(fields: Map<String, String>): Unit =
        io { native.setProfile(UserProfile(fields)) }

    /**
     * P(yes) of each candidate, in the order given.
     *
     * @throws RecloraException.InvalidArgument when [candidateIds] is empty.
     * @throws RecloraException.UnknownItem when a candidate is not in the bundle.
     */
    suspend fun score(candidateIds: List<Long>): List<Double> = io { native.score(candidateIds) }

    /** The [topK] best candidates, best first. */
    suspend fun rank(candidateIds: List<Long>, topK: Int): List<ScoredItem> =
        io { native.rank(candidateIds, topK) }

    /** The number of stored events. */
    suspend fun historyLength(): Long = io { native.historyLength() }

    /** Forgets the stored events; the profile stays. */
    suspend fun clearHistory(): Unit = io { native.clearHistory() }

    /**
     * Releases the bundle and the history file; later calls throw
     * [RecloraException.Closed]. Calls already running complete normally, and the files
     * are released when the last of them returns. Idempotent. (The small native handle
     * itself goes with this object, at garbage collection.)
     */
    override fun close() {
        native.closeRecommender()
    }

    private suspend fun <T> io(call: () -> T): T = withContext(dispatcher) { call() }
}
