import Foundation

/// The reclora on-device recommender: a model bundle, the user's local history and a
/// backend, scoring candidate items privately on the device.
///
/// Every method is `async throws` and runs the native call on a global dispatch queue, so
/// neither the main actor nor Swift's cooperative pool blocks while the models run. The
/// object is `Sendable`: share it between tasks freely; several calls run at once.
/// Failures are thrown as ``RecloraError`` (`.BundleInvalid`, `.Io`, `.InvalidArgument`,
/// `.UnknownItem`, `.Closed`, `.Internal`); a native panic arrives as `.Internal`, never as
/// a crash. Call ``close()`` when done to release the mapped bundle and the history file at
/// once. Use one recommender per history file.
public final class RecloraRecommender: Sendable {
    /// The generated binding, for the synchronous API.
    public let native: Recommender

    private init(native: Recommender) {
        self.native = native
    }

    /// Opens the bundle folder `bundleDir` and the history file `historyFile` (created when
    /// absent).
    ///
    /// - Throws: `RecloraError.Io` for a path that does not exist, `.BundleInvalid` for a
    ///   corrupt bundle, `.InvalidArgument` for an option out of range.
    public static func open(
        bundleDir: URL,
        historyFile: URL,
        options: RecommenderOptions = RecommenderOptions()
    ) async throws -> RecloraRecommender {
        let native = try await offload {
            try Recommender.open(
                bundleDir: bundleDir.path, historyPath: historyFile.path, options: options)
        }
        return RecloraRecommender(native: native)
    }

    /// Options for the CPU with `threads` threads (0: one per core).
    public static func cpuOptions(threads: Int32 = 0, gateMode: GateMode = .perSample)
        -> RecommenderOptions
    {
        RecommenderOptions(backend: .cpu, threads: threads, gateMode: gateMode)
    }

    /// Remembers one interaction; durable when this returns.
    public func recordEvent(_ event: UserEvent) async throws {
        let native = self.native
        try await Self.offload { try native.recordEvent(event: event) }
    }

    /// Remembers one interaction with `itemId`, rated `stars` (1 to 5), at `timestampSeconds`.
    public func recordRating(itemId: Int64, stars: Int32, timestampSeconds: Int64) async throws {
        try await recordEvent(
            UserEvent(itemId: itemId, feedback: .rating(stars: stars), timestampSeconds: timestampSeconds))
    }

    /// Remembers `events` in order; an invalid one rejects all before anything is written.
    public func recordEvents(_ events: [UserEvent]) async throws {
        let native = self.native
        try await Self.offload { try native.recordEvents(events: events) }
    }

    /// Replaces the user's profile (field names as in the bundle's `features.json`).
    public func setProfile(_ fields: [String: String]) async throws {
        let native = self.native
        try await Self.offload { try native.setProfile(profile: UserProfile(fields: fields)) }
    }

    /// P(yes) of each candidate, in the order given.
    ///
    /// - Throws: `.InvalidArgument` for an empty list, `.UnknownItem` for an id the bundle
    ///   does not have.
    public func score(_ candidateIds: [Int64]) async throws -> [Double] {
        let native = self.native
        return try await Self.offload { try native.score(candidateIds: candidateIds) }
    }

    /// The `topK` best candidates, best first.
    public func rank(_ candidateIds: [Int64], topK: Int32) async throws -> [ScoredItem] {
        let native = self.native
        return try await Self.offload { try native.rank(candidateIds: candidateIds, topK: topK) }
    }

    /// The number of stored events.
    public func historyLength() async throws -> Int64 {
        let native = self.native
        return try await Self.offload { try native.historyLength() }
    }

    /// Forgets the stored events; the profile stays.
    public func clearHistory() async throws {
        let native = self.native
        try await Self.offload { try native.clearHistory() }
    }

    /// Releases the bundle and the history file; later calls throw `.Closed`. Calls already
    /// running complete normally, and the files are released when the last of them
    /// returns. Idempotent.
    public func close() throws {
        try native.close()
    }

    private static func offload<T>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}
