import Foundation
import XCTest

@testable import Reclora

/// The bindings scenario in Swift, against the host libreclora_ffi and the Rust results.
final class RecloraTests: XCTestCase {
    var expected: Expected!
    var scratch: URL!

    override func setUpWithError() throws {
        expected = try Expected.load()
        scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("reclora-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: scratch)
    }

    private var options: RecommenderOptions { RecloraRecommender.cpuOptions(threads: expected.threads) }

    private func history(_ name: String = UUID().uuidString) -> URL {
        scratch.appendingPathComponent("\(name).bin")
    }

    private func withUser(_ file: URL? = nil) async throws -> RecloraRecommender {
        let reclora = try await RecloraRecommender.open(
            bundleDir: expected.bundle, historyFile: file ?? history(), options: options)
        try await reclora.setProfile(expected.profile)
        try await reclora.recordEvents(expected.events)
        return reclora
    }

    private func assertClose(_ want: [Double], _ got: [Double], _ what: String,
                             file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(want.count, got.count, what, file: file, line: line)
        for (w, g) in zip(want, got) {
            XCTAssertEqual(w, g, accuracy: 1e-6, what, file: file, line: line)
        }
    }

    /// Runs `body`, expecting a RecloraError that `matches` accepts.
    private func assertThrows<T>(_ what: String, _ body: () async throws -> T,
                                 _ matches: (RecloraError) -> Bool,
                                 file: StaticString = #filePath, line: UInt = #line) async {
        do {
            _ = try await body()
            XCTFail("\(what): no error", file: file, line: line)
        } catch let error as RecloraError {
            XCTAssertTrue(matches(error), "\(what): \(error)", file: file, line: line)
        } catch {
            XCTFail("\(what): not a RecloraError: \(error)", file: file, line: line)
        }
    }

    func testHistoryPersistsAcrossReopen() async throws {
        let file = history("persist")
        let first = try await RecloraRecommender.open(
            bundleDir: expected.bundle, historyFile: file, options: options)
        try await first.setProfile(expected.profile)
        for event in expected.events {
            try await first.recordEvent(event)
        }
        let recorded = try await first.historyLength()
        XCTAssertEqual(recorded, 20)
        try first.close()
        let reopened = try await RecloraRecommender.open(
            bundleDir: expected.bundle, historyFile: file, options: options)
        let length = try await reopened.historyLength()
        XCTAssertEqual(length, 20)
        assertClose(expected.scores, try await reopened.score(expected.candidates), "after reopen")
    }

    func testScoresEqualTheRustResults() async throws {
        let scores = try await withUser().score(expected.candidates)
        assertClose(expected.scores, scores, "scores")
        XCTAssertGreaterThan(scores.max()! - scores.min()!, 1e-4)
    }

    func testRankTopThree() async throws {
        let top = try await withUser().rank(expected.candidates, topK: 3)
        XCTAssertEqual(top.map(\.itemId), expected.top3.map(\.0))
        assertClose(expected.top3.map(\.1), top.map(\.score), "top 3")
    }

    func testErrorsAreTyped() async throws {
        let missing = scratch.appendingPathComponent("no-such-bundle")
        await assertThrows("bad path", {
            try await RecloraRecommender.open(bundleDir: missing, historyFile: self.history(), options: self.options)
        }) { if case .Io(let reason) = $0 { return reason.contains("no-such-bundle") } else { return false } }
        await assertThrows("corrupt bundle", {
            try await RecloraRecommender.open(
                bundleDir: self.expected.corruptBundle, historyFile: self.history(), options: self.options)
        }) { if case .BundleInvalid(let reason) = $0 { return reason.contains("llm.safetensors") } else { return false } }
        let reclora = try await withUser()
        await assertThrows("empty list", { try await reclora.score([]) }) {
            if case .InvalidArgument = $0 { return true } else { return false }
        }
        await assertThrows("unknown item", { try await reclora.score([5, self.expected.unknownItem]) }) {
            if case .UnknownItem(let id) = $0 { return id == self.expected.unknownItem } else { return false }
        }
        try reclora.close()
        try reclora.close()  // idempotent
        await assertThrows("after close", { try await reclora.score(self.expected.candidates) }) {
            if case .Closed = $0 { return true } else { return false }
        }
    }

    func testFourThreadsBy100CallsEqualSerialCalls() async throws {
        let reclora = try await withUser()
        let slates = (0..<4).map { Array(expected.candidates[$0..<($0 + 2)]) }
        var serial: [[Double]] = []
        for slate in slates {
            serial.append(try await reclora.score(slate))
        }
        // Four OS threads, each making 100 blocking calls on the shared object.
        let results = ResultsBox(count: slates.count)
        let threads = (0..<slates.count).map { t in
            Thread {
                for _ in 0..<100 {
                    results.append(t, Result { try reclora.native.score(candidateIds: slates[t]) })
                }
                results.done.signal()
            }
        }
        threads.forEach { $0.start() }
        for _ in threads { results.done.wait() }
        for t in 0..<slates.count {
            let calls = results.get(t)
            XCTAssertEqual(calls.count, 100)
            for call in calls {
                XCTAssertEqual(try call.get(), serial[t], "slate \(t)")
            }
        }
        // And the async API from 4 concurrent tasks.
        let asyncResults = try await withThrowingTaskGroup(of: (Int, [Double]).self) { group in
            for t in 0..<slates.count {
                group.addTask {
                    var last: [Double] = []
                    for _ in 0..<25 { last = try await reclora.score(slates[t]) }
                    return (t, last)
                }
            }
            var all: [(Int, [Double])] = []
            for try await result in group { all.append(result) }
            return all
        }
        for (t, scores) in asyncResults { XCTAssertEqual(scores, serial[t]) }
    }

    func testAPanicIsAnExceptionAndTheNextCallWorks() async throws {
        let reclora = try await withUser()
        XCTAssertThrowsError(try reclora.native.panicForTest(message: "boom from Swift")) { error in
            guard case RecloraError.Internal(let reason) = error else {
                return XCTFail("not Internal: \(error)")
            }
            XCTAssertTrue(reason.contains("boom from Swift"), reason)
        }
        assertClose(expected.scores, try await reclora.score(expected.candidates), "after the panic")
        let length = try await reclora.historyLength()
        XCTAssertEqual(length, 20)
    }

    func testClearHistoryKeepsTheProfile() async throws {
        let reclora = try await withUser()
        try await reclora.clearHistory()
        let length = try await reclora.historyLength()
        XCTAssertEqual(length, 0)
        let scores = try await reclora.score(expected.candidates)
        XCTAssertGreaterThan(abs(scores[0] - expected.scores[0]), 1e-6)
    }

    func testTheReadmeExampleRanksLikeScore() async throws {
        let documents = scratch.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: documents, withIntermediateDirectories: true)
        let top = try await topPicks(bundleDir: expected.bundle, documents: documents, candidates: expected.candidates)
        let check = try await RecloraRecommender.open(
            bundleDir: expected.bundle, historyFile: documents.appendingPathComponent("history.bin"),
            options: options)
        let length = try await check.historyLength()
        XCTAssertEqual(length, 1)
        let scores = try await check.score(expected.candidates)
        let best = zip(expected.candidates, scores).sorted { $0.1 > $1.1 }.prefix(3)
        XCTAssertEqual(top.map(\.itemId), best.map(\.0))
        assertClose(best.map(\.1), top.map(\.score), "example")
    }
}

/// Results of the thread test, behind a lock.
final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [[Result<[Double], Error>]]
    let done = DispatchSemaphore(value: 0)

    init(count: Int) { results = Array(repeating: [], count: count) }

    func append(_ t: Int, _ result: Result<[Double], Error>) {
        lock.lock()
        results[t].append(result)
        lock.unlock()
    }

    func get(_ t: Int) -> [Result<[Double], Error>] {
        lock.lock()
        defer { lock.unlock() }
        return results[t]
    }
}
