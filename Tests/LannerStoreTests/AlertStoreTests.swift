import Foundation
import Testing
import LannerCore
@testable import LannerStore

/// A fresh directory per test (tests run in parallel), removed afterwards.
final class TempDir {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("lanner-store-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    deinit { try? FileManager.default.removeItem(at: url) }
}

func alert(_ t: Int64, rule: String = "Shell in container", host: String = "web-1", priority: Priority = .warning,
           output: String = "shell spawned", tags: [String] = ["container", "shell"],
           fields: String = #"{"proc.name":"bash"}"#, container: String? = nil, containerName: String? = nil) -> NewAlert {
    NewAlert(timeNs: t, host: host, sensorID: "sensor-\(host)", rule: rule, priority: priority, output: output,
             tags: tags, fieldsJSON: fields, containerID: container, containerName: containerName)
}

@Suite struct AlertStoreTests {
    @Test func roundTripsEveryColumn() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        let a = NewAlert(timeNs: 1_796_356_623_123_456_789, host: "db-2", sensorID: "s-9", rule: "Read sensitive file",
                         priority: .critical, source: "syscall", output: "file=/etc/shadow user=root",
                         tags: ["filesystem", "mitre_credential_access"], fieldsJSON: #"{"fd.name":"/etc/shadow"}"#,
                         containerID: "3ad7b26ded6d")
        let b = alert(5, container: nil)
        let result = try store.commit(sensorID: "s-9", sequence: 1, events: 10, alerts: [a, b])
        guard case .committed(let ids) = result else { Issue.record("not committed: \(result)"); return }
        #expect(ids.count == 2)
        #expect(ids[1] == ids[0] + 1)

        let rows = try store.query(AlertQuery(newestFirst: false))
        #expect(rows == [
            StoredAlert(id: ids[1], timeNs: 5, host: "web-1", sensorID: "sensor-web-1", rule: "Shell in container",
                        priority: .warning, source: "syscall", output: "shell spawned", tags: ["container", "shell"],
                        fieldsJSON: #"{"proc.name":"bash"}"#, containerID: nil, count: 1, lastSeenNs: 5),
            StoredAlert(id: ids[0], timeNs: 1_796_356_623_123_456_789, host: "db-2", sensorID: "s-9",
                        rule: "Read sensitive file", priority: .critical, source: "syscall",
                        output: "file=/etc/shadow user=root", tags: ["filesystem", "mitre_credential_access"],
                        fieldsJSON: #"{"fd.name":"/etc/shadow"}"#, containerID: "3ad7b26ded6d", count: 1,
                        lastSeenNs: 1_796_356_623_123_456_789),
        ])
        #expect(try store.count() == 2)
        #expect(try store.batchCount() == 1)
    }

    @Test func awkwardStringsSurvive() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        let weird = "quote \" apostrophe ' backslash \\ newline\nnul\u{0}tab\t émoji 🛡️ 中文 \u{7f}"
        let fields = "{\"k\":" + JSON.quoted(weird) + "}"
        let a = NewAlert(timeNs: 1, host: weird, sensorID: weird, rule: weird, priority: .debug, source: weird,
                         output: weird, tags: [weird, "", "[\"]"], fieldsJSON: fields, containerID: weird)
        _ = try store.commit(sensorID: weird, sequence: 0, events: 1, alerts: [a])
        let row = try #require(try store.query(AlertQuery(host: weird)).first)
        #expect(row.host == weird && row.sensorID == weird && row.rule == weird && row.source == weird)
        #expect(row.output == weird && row.containerID == weird)
        #expect(row.tags == [weird, "", "[\"]"])
        #expect(row.fieldsJSON == fields)
        #expect(try store.query(AlertQuery(rule: weird)).count == 1)
        // The JSON rendering is valid JSON that Foundation reads back to the same strings.
        let object = try JSONSerialization.jsonObject(with: Data(row.jsonObject().utf8)) as? [String: Any]
        #expect((object?["output"] as? String)?.hasSuffix(": Debug " + weird) == true)
        #expect(object?["tags"] as? [String] == [weird, "", "[\"]"])
        #expect((object?["output_fields"] as? [String: Any])?["k"] as? String == weird)
    }

    @Test func filtersSelectTheRightRows() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        // t = 10·i for i in 1...10; rule = rules[i % 4], host = [a, b, c][i % 3], priority = i % 8.
        let rules = ["Write below etc", "Write below root", "Shell in container", "Read sensitive file"]
        var alerts: [NewAlert] = []
        for i in 1...10 {
            alerts.append(alert(Int64(i * 10), rule: rules[i % 4], host: ["a", "b", "c"][i % 3],
                                priority: Priority(rawValue: i % 8)!))
        }
        _ = try store.commit(sensorID: "s", sequence: 1, events: 10, alerts: alerts)
        func times(_ q: AlertQuery) throws -> [Int64] { try store.query(q).map(\.timeNs) }

        #expect(try times(AlertQuery()) == [100, 90, 80, 70, 60, 50, 40, 30, 20, 10])
        #expect(try times(AlertQuery(newestFirst: false)) == [10, 20, 30, 40, 50, 60, 70, 80, 90, 100])
        #expect(try times(AlertQuery(since: 30, until: 60)) == [50, 40, 30])           // since inclusive, until exclusive
        #expect(try times(AlertQuery(since: 95)) == [100])
        #expect(try times(AlertQuery(until: 20)) == [10])
        #expect(try times(AlertQuery(rule: "Shell in container")) == [100, 60, 20])   // i % 4 == 2
        #expect(try times(AlertQuery(rule: "Shell in container", newestFirst: false)) == [20, 60, 100])
        #expect(try times(AlertQuery(rule: "Write below *", newestFirst: false)) == [10, 40, 50, 80, 90])
        #expect(try times(AlertQuery(rule: "Write below [e]tc", newestFirst: false)) == [40, 80])
        #expect(try times(AlertQuery(rule: "?ead*", newestFirst: false)) == [30, 70])
        #expect(try times(AlertQuery(rule: "write below *")).isEmpty)                // GLOB is case-sensitive
        #expect(try times(AlertQuery(rule: "Write below")).isEmpty)                  // exact means exact
        // priority = i % 8: i=1 alert(1) … i=8 emergency(0), i=9 alert(1), i=10 critical(2)
        #expect(try times(AlertQuery(minPriority: .critical, newestFirst: false)) == [10, 20, 80, 90, 100])
        #expect(try times(AlertQuery(minPriority: .emergency)) == [80])
        #expect(try times(AlertQuery(minPriority: .debug)).count == 10)
        #expect(try times(AlertQuery(host: "b", newestFirst: false)) == [10, 40, 70, 100])
        #expect(try times(AlertQuery(limit: 3)) == [100, 90, 80])
        #expect(try times(AlertQuery(limit: 3, newestFirst: false)) == [10, 20, 30])
        #expect(try times(AlertQuery(limit: 0)).count == 10)
        #expect(try times(AlertQuery(since: 20, rule: "Write below *", minPriority: .error, host: "a",
                                      limit: 5, newestFirst: false)) == [90])
        #expect(try store.query(AlertQuery(host: "nope")).isEmpty)
    }

    @Test func sameTimeOrdersById() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        guard case .committed(let ids) = try store.commit(sensorID: "s", sequence: 1, events: 3,
                                                          alerts: [alert(7), alert(7), alert(7)]) else {
            Issue.record("not committed"); return
        }
        #expect(try store.query(AlertQuery()).map(\.id) == ids.reversed())
        #expect(try store.query(AlertQuery(newestFirst: false)).map(\.id) == ids)
    }

    @Test func duplicateBatchIsRefusedAndWritesNothing() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        #expect(try store.commit(sensorID: "s1", sequence: 7, events: 2, alerts: [alert(1), alert(2)]) == .committed([1, 2]))
        #expect(try store.commit(sensorID: "s1", sequence: 7, events: 2, alerts: [alert(1), alert(2), alert(3)]) == .duplicate)
        #expect(try store.count() == 2)
        #expect(try store.batchCount() == 1)
        // The same sequence from another sensor, and the next sequence, are new batches.
        #expect(try store.commit(sensorID: "s2", sequence: 7, events: 1, alerts: [alert(3)]) == .committed([3]))
        #expect(try store.commit(sensorID: "s1", sequence: 8, events: 0, alerts: []) == .committed([]))
        #expect(try store.commit(sensorID: "s1", sequence: 8, events: 0, alerts: [alert(4)]) == .duplicate)
        // Sequence numbers use all 64 bits.
        #expect(try store.commit(sensorID: "s1", sequence: .max, events: 1, alerts: [alert(5)]) == .committed([4]))
        #expect(try store.commit(sensorID: "s1", sequence: .max, events: 1, alerts: []) == .duplicate)
        #expect(try store.count() == 4)
        #expect(try store.batchCount() == 4)
    }

    @Test func failedBatchRollsBackCompletely() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        let bad = [alert(1), alert(2), alert(3, fields: "not json")]
        #expect(throws: StoreError.self) { try store.commit(sensorID: "s", sequence: 1, events: 3, alerts: bad) }
        #expect(try store.count() == 0)
        #expect(try store.batchCount() == 0)
        // Nothing of the failed attempt remains: the same batch, fixed, commits (it is not a duplicate).
        #expect(try store.commit(sensorID: "s", sequence: 1, events: 3, alerts: [alert(1), alert(2), alert(3)])
                == .committed([1, 2, 3]))
        #expect(try store.query(AlertQuery(newestFirst: false)).map(\.timeNs) == [1, 2, 3])
    }

    @Test func emptyFieldsAreStoredAsAnEmptyObject() throws {
        let dir = try TempDir()
        let store = try AlertStore(path: dir.path("a.db"))
        _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(1, tags: [], fields: "")])
        let row = try #require(try store.query(AlertQuery()).first)
        #expect(row.fieldsJSON == "{}")
        #expect(row.tags == [])
    }

    @Test func reopeningKeepsDataAndSchema() throws {
        let dir = try TempDir()
        let path = dir.path("a.db")
        do {
            let store = try AlertStore(path: path)
            _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(1)])
        }
        let again = try AlertStore(path: path)
        #expect(try again.count() == 1)
        #expect(try again.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(1)]) == .duplicate)
        let reader = try AlertStore(path: path, readOnly: true)
        #expect(try reader.count() == 1)
        #expect(AlertStore.schemaVersion == 5)
    }

    @Test func readOnlyOpensAfterTheWriterHasClosed() throws {
        let dir = try TempDir()
        let path = dir.path("a.db")
        do {
            let store = try AlertStore(path: path)
            _ = try store.commit(sensorID: "s", sequence: 1, events: 1, alerts: [alert(1), alert(2)])
        }   // last connection closed: SQLite checkpoints and removes the -wal and -shm files
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        let reader = try AlertStore(path: path, readOnly: true)
        #expect(try reader.count() == 2)
        #expect(try reader.query(AlertQuery(limit: 1)).map(\.timeNs) == [2])
    }

    @Test func readOnlyStoreCannotWrite() throws {
        let dir = try TempDir()
        let path = dir.path("a.db")
        _ = try AlertStore(path: path)
        let reader = try AlertStore(path: path, readOnly: true)
        #expect(reader.isReadOnly)
        let error = try #require(throws: StoreError.self) {
            try reader.commit(sensorID: "s", sequence: 1, events: 0, alerts: [])
        }
        #expect(error.sqliteCode == 8)   // SQLITE_READONLY
        #expect(try reader.count() == 0)
    }

    @Test func missingFileReadOnlyGivesClearError() throws {
        let dir = try TempDir()
        let path = dir.path("nothing-here.db")
        let error = try #require(throws: StoreError.self) { try AlertStore(path: path, readOnly: true) }
        #expect(error == .fileMissing(path: path))
        #expect(error.description.contains(path))
        #expect(error.description.contains("does not exist"))
        #expect(!FileManager.default.fileExists(atPath: path))   // and it was not created
    }

    @Test func missingDirectoryGivesClearError() throws {
        let dir = try TempDir()
        let path = dir.path("no/such/dir/a.db")
        let error = try #require(throws: StoreError.self) { try AlertStore(path: path) }
        #expect(error.sqliteCode == 14)   // SQLITE_CANTOPEN
        #expect(error.description.contains(path))
    }

    @Test func corruptFileGivesClearError() throws {
        let dir = try TempDir()
        let path = dir.path("random.db")
        var rng = SystemRandomNumberGenerator()
        let junk = (0..<65_536).map { _ in UInt8.random(in: 0...255, using: &rng) }
        try Data(junk).write(to: URL(fileURLWithPath: path))
        for readOnly in [false, true] {
            let error = try #require(throws: StoreError.self) { try AlertStore(path: path, readOnly: readOnly) }
            #expect(error.isCorruptFile, "\(error)")
            #expect(error.description.contains("not a database"), "\(error)")
            #expect(error.description.contains(path))
        }
        // The file was left alone.
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(junk))
    }

    @Test func emptyAndForeignDatabasesReadOnly() throws {
        let dir = try TempDir()
        let empty = dir.path("empty.db")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        #expect(throws: StoreError.schemaMissing(path: empty)) { try AlertStore(path: empty, readOnly: true) }
        // A writable open of the same empty file initialises it.
        _ = try AlertStore(path: empty)
        #expect(try AlertStore(path: empty, readOnly: true).count() == 0)
    }

    @Test func newerSchemaIsRefused() throws {
        let dir = try TempDir()
        let path = dir.path("future.db")
        do {
            let db = try SQLite(path: path, mode: .readWrite, busyTimeoutMilliseconds: 100)
            try db.exec("PRAGMA user_version = 99")
        }
        let expected = StoreError.schemaTooNew(path: path, found: 99, supported: AlertStore.schemaVersion)
        #expect(throws: expected) { try AlertStore(path: path, readOnly: true) }
        #expect(throws: expected) { try AlertStore(path: path) }
        #expect(expected.description.contains("newer"))
    }

    @Test func readerDuringWritesSeesWholeBatchesAndNeverFails() throws {
        let dir = try TempDir()
        let path = dir.path("a.db")
        let writer = try AlertStore(path: path)
        let perBatch = 5, batches = 1000

        let done = ReaderState()
        let reader = Thread {
            do {
                let store = try AlertStore(path: path, readOnly: true)
                var last = 0
                while !done.writerFinished {
                    let n = try store.count()
                    let rows = try store.query(AlertQuery(limit: 0, newestFirst: false))
                    done.record(count: n, rows: rows.count, previous: last, perBatch: perBatch)
                    last = n
                }
                done.record(count: try store.count(), rows: perBatch * batches, previous: last, perBatch: perBatch)
            } catch {
                done.fail("\(error)")
                done.firstRead.signal()
            }
            done.readerFinished.signal()
        }
        reader.start()
        done.firstRead.wait()   // the reader is open and reading before the writer starts
        for seq in 0..<batches {
            let alerts = (0..<perBatch).map { alert(Int64(seq * perBatch + $0)) }
            #expect(try writer.commit(sensorID: "s", sequence: UInt64(seq), events: perBatch, alerts: alerts)
                    != .duplicate)
        }
        done.finishWriter()
        done.readerFinished.wait()
        let summary = done.summary
        #expect(summary.failures.isEmpty, "\(summary.failures)")
        #expect(summary.reads > 0)
        #expect(summary.distinctCounts >= 2)   // it read before, (usually) during and after the writes
        #expect(summary.lastCount == perBatch * batches)
        #expect(try writer.count() == perBatch * batches)
    }

    @Test func rfc3339() {
        #expect(StoredAlert.rfc3339(nanoseconds: 0) == "1970-01-01T00:00:00.000000000Z")
        #expect(StoredAlert.rfc3339(nanoseconds: 1_796_356_623_123_456_789) == "2026-12-04T03:57:03.123456789Z")
        #expect(StoredAlert.rfc3339(nanoseconds: 951_782_400_000_000_001) == "2000-02-29T00:00:00.000000001Z")
        #expect(StoredAlert.rfc3339(nanoseconds: -1) == "1969-12-31T23:59:59.999999999Z")
        #expect(StoredAlert.rfc3339(nanoseconds: 4_102_444_799_999_999_999) == "2099-12-31T23:59:59.999999999Z")
    }

    @Test func jsonObjectHasFalcoKeys() throws {
        let row = StoredAlert(id: 3, timeNs: 1_796_356_623_123_456_789, host: "web-1", sensorID: "s1",
                              rule: "Terminal shell", priority: .notice, source: "syscall", output: "sh ran",
                              tags: ["shell"], fieldsJSON: #"{"proc.name":"sh","proc.pid":42}"#, containerID: nil,
                              count: 1, lastSeenNs: 1_796_356_623_123_456_789)
        #expect(row.jsonObject() == """
            {"hostname":"web-1","output":"2026-12-04T03:57:03.123456789+0000: Notice sh ran",\
            "output_fields":{"proc.name":"sh","proc.pid":42},"priority":"Notice","rule":"Terminal shell",\
            "source":"syscall","tags":["shell"],"time":"2026-12-04T03:57:03.123456789Z",\
            "lanner":{"id":3,"sensor_id":"s1","container_id":null,"container_name":null,"count":1,\
            "last_seen":"2026-12-04T03:57:03.123456789Z"}}
            """)
        // Exactly Falco's top-level keys (plus lanner), as Falco's JSON output has them.
        let object = try #require(try JSONSerialization.jsonObject(with: Data(row.jsonObject().utf8)) as? [String: Any])
        #expect(Set(object.keys) == ["hostname", "output", "output_fields", "priority", "rule", "source", "tags", "time", "lanner"])
    }

    @Test(arguments: [#"[]"#, #" [ "a" , "b\"c" ] "#, #"["\u00e9\ud83d\udee1"]"#, #"["a\/b\n"]"#])
    func tagDecoderAcceptsJSONArrays(text: String) throws {
        let decoded = try #require(TagCoding.decode(text))
        let viaFoundation = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String]
        #expect(decoded == viaFoundation)
    }

    @Test(arguments: ["", "[", #"["a""#, #"["a",]"#, #"{"a":1}"#, #"[1]"#, #"["\ud83d"]"#, #"["a"] x"#])
    func tagDecoderRejectsOthers(text: String) {
        #expect(TagCoding.decode(text) == nil)
    }
}

/// What the concurrent reader saw, shared with the test thread.
final class ReaderState: @unchecked Sendable {
    private let lock = NSLock()
    private var finished = false
    private(set) var failures: [String] = []
    private var reads = 0
    private var lastCount = 0
    private var counts: Set<Int> = []
    let readerFinished = DispatchSemaphore(value: 0)
    let firstRead = DispatchSemaphore(value: 0)

    var writerFinished: Bool { lock.withLock { finished } }
    func finishWriter() { lock.withLock { finished = true } }
    func fail(_ s: String) { lock.withLock { failures.append(s) } }

    func record(count: Int, rows: Int, previous: Int, perBatch: Int) {
        lock.withLock {
            reads += 1
            if reads == 1 { firstRead.signal() }
            lastCount = count
            counts.insert(count)
            if count % perBatch != 0 { failures.append("count \(count) is not a whole number of batches") }
            if rows % perBatch != 0 { failures.append("query saw \(rows) rows, not whole batches") }
            if count < previous { failures.append("count went back from \(previous) to \(count)") }
        }
    }

    var summary: (failures: [String], reads: Int, lastCount: Int, distinctCounts: Int) {
        lock.withLock { (failures, reads, lastCount, counts.count) }
    }
}
