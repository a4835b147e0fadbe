import Foundation
import Glibc
import LannerSensorAgent
import LannerWire
import Testing

/// What the kernel side captures before (or without) a collector: `--events`, the collector's interest kept in the
/// state directory, and the default. No kernel needed.
@Suite struct StartInterestTests {
    static func tempDir() throws -> String {
        let d = NSTemporaryDirectory() + "start-interest-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }

    static func ids(_ types: [EventType]) -> Set<UInt16> { Set(types.map(\.rawValue)) }
    static let lifecycle = ids([.execve, .execveat, .clone, .clone3, .fork, .vfork, .procexit])

    // MARK: the default set

    /// Before the fix a sensor started with 12 types (execs, clones, exit, opens, connect) until the collector's first
    /// answer, and for a whole `--offline` capture: a replay through rules on unlink, rename or setns found nothing.
    @Test func theDefaultIsEveryKernelTypeButTheReadWriteFamily() {
        let readWrite = Self.ids([.read, .write, .pread64, .pwrite64, .readv, .writev])
        #expect(EventSelection.standard == EventSelection.allKernel.subtracting(readWrite))
        #expect(EventSelection.standard.count == EventSelection.allKernel.count - 6)
        #expect(EventSelection.standard.isSuperset(of: Self.ids([.unlink, .unlinkat, .mkdir, .rename, .renameat2, .setns, .ptrace, .close])))
        #expect(EventSelection.standard.isDisjoint(with: Self.ids([.procinfo, .userinfo, .groupinfo, .containerinfo])))
        #expect(BPFProbe.defaultInterest == EventSelection.standard)
        #expect(ProbeConfig(objectPath: "/x").interest == EventSelection.standard && ProbeConfig(objectPath: "/x").omit.isEmpty)
    }

    // MARK: --events

    @Test func eventsNamesSetsAndTypesAndAlwaysTheLifecycle() throws {
        #expect(try EventSelection.parse("all").events == EventSelection.allKernel)
        #expect(try EventSelection.parse("default").events == EventSelection.standard)
        #expect(try EventSelection.parse("default,read,write").events == EventSelection.standard.union(Self.ids([.read, .write])))
        let few = try EventSelection.parse(" unlink, mkdir ")
        #expect(few.events == Self.lifecycle.union(Self.ids([.unlink, .mkdir])))
        #expect(few.spelled == " unlink, mkdir ")
        #expect(try EventSelection.parse("execve").events == Self.lifecycle)
    }

    @Test(arguments: [
        ("unlink,bogus", "names 'bogus' (item 2), which is not an event of proto/events.yaml; the kernel's are all, default or: execve, execveat, clone, "),
        ("pread", "names 'pread', which is not an event of proto/events.yaml; the kernel's are all, default or: execve, "),
        ("procinfo", "names 'procinfo', which the sensor writes itself (always sent), not one the kernel captures"),
        ("", "is empty: give all, default, or event names separated by commas (e.g. default,read)"),
        ("unlink,,mkdir", "has an empty name (item 2): names are separated by single commas"),
    ])
    func badEventsSayWhichItemAndWhy(_ text: String, _ why: String) {
        #expect {
            _ = try EventSelection.parse(text)
        } throws: { e in
            guard let e = e as? EventSelection.Failure else { return false }
            return e.description.hasPrefix(why)
        }
    }

    @Test func anUnknownNameListsTheKernelEvents() throws {
        let e = try #require(throws: EventSelection.Failure.self) { try EventSelection.parse("bogus") }
        #expect(e.description.hasSuffix(", read, write, pread64, pwrite64, readv, writev"), "\(e.description)")
        #expect(e.description.contains("unlinkat") && e.description.contains("setns") && !e.description.contains("procinfo"))
    }

    // MARK: the kept interest

    @Test func theKeptInterestRoundTrips() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = InterestFile(stateDirectory: dir)
        #expect(file.path == dir + "/interest")
        #expect(file.load() == .none, "nothing kept yet")
        let i = Interest(events: [EventType.unlink.rawValue, EventType.openat.rawValue, 999], omit: [Interest.Omit.openNameraw])
        try file.save(i)
        #expect(file.load() == .kept(i))
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text == "{\"interest\":{\"version\":\(i.version),\"events\":[9,33,999],\"omit\":[\"open.nameraw\"]}}\n")
        var st = stat()
        #expect(stat(file.path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(!FileManager.default.fileExists(atPath: file.path + ".tmp"))
        // A newer one replaces it whole.
        let j = Interest(events: [EventType.execve.rawValue])
        try file.save(j)
        #expect(file.load() == .kept(j))
    }

    @Test(arguments: [
        ("garbage", "it is not JSON (7 bytes): "),
        ("{\"interest\":{\"version\":1,", "it is not JSON (25 bytes): "),
        ("{\"events\":[1,2]}", "it is not {\"interest\":{…}} (16 bytes: \"{\"events\":[1,2]}\")"),
        ("{\"interest\":{\"version\":-4,\"events\":[1]}}", "\"interest.version\" is missing or not a 32-bit unsigned integer"),
        ("{\"interest\":{\"version\":1,\"events\":[1,70000]}}", "\"interest.events\"[1] is 70000, not an event id (1…65535)"),
        ("{\"interest\":{\"version\":1,\"events\":[1,2],\"omit\":[\"Bad Name\"]}}", "\"interest.omit\"[0] is Bad Name, not a part name (1–64 of a-z 0-9 . _ -)"),
    ])
    func aCorruptFileIsUnusableAndSaysWhy(_ content: String, _ why: String) throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = InterestFile(stateDirectory: dir)
        try content.write(toFile: file.path, atomically: false, encoding: .utf8)
        guard case .unusable(let reason) = file.load() else { Issue.record("\(content) was used: \(file.load())"); return }
        #expect(reason.hasPrefix(why), "\(reason)")
    }

    /// A file whose version does not match its events (edited by hand, or cut and patched) is not trusted.
    @Test func aVersionThatDoesNotMatchTheContentIsUnusable() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = InterestFile(stateDirectory: dir)
        let i = Interest(events: [1, 2, 33])
        try "{\"interest\":{\"version\":\(i.version &+ 1),\"events\":[1,2,33]}}\n".write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(file.load() == .unusable("\"interest.version\" is \(i.version &+ 1) but the events and omitted parts listed have version \(i.version)"))
        try "{\"interest\":{\"version\":\(i.version),\"events\":[1,2,33]}}\n".write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(file.load() == .kept(i))
    }

    @Test func aFileTooLargeToBeAnInterestIsUnusable() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = InterestFile(stateDirectory: dir)
        try String(repeating: " ", count: 70_000).write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect(file.load() == .unusable("it is over 65536 bytes, not an interest"))
    }

    // MARK: which set the sensor starts with

    @Test func whichSetTheSensorStartsWith() throws {
        let dir = try Self.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = InterestFile(stateDirectory: dir)
        var said: [String] = []
        func choose(_ events: EventSelection.Choice?, shipping: Bool) -> StartInterest {
            StartInterest.choose(events: events, shipping: shipping, file: file, log: { said.append($0) })
        }
        // Nothing kept: the default, online and offline.
        for shipping in [true, false] {
            let s = choose(nil, shipping: shipping)
            #expect(s.events == EventSelection.standard && s.omit.isEmpty && s.collectorVersion == nil && s.origin == .standard)
        }
        let n = EventSelection.standard.count
        #expect(choose(nil, shipping: true).summary
                == "\(n) event types (every kernel event type but read, write, pread64, pwrite64, readv, writev: no collector interest kept)")

        // Kept: used when shipping, with its omissions and version; not offline (a capture is for any rules).
        let kept = Interest(events: [1, 2, 3, 4, 5, 6, 7, 9, 33], omit: [Interest.Omit.openNameraw])
        try file.save(kept)
        let online = choose(nil, shipping: true)
        #expect(online.events == Set(kept.events) && online.omit == [Interest.Omit.openNameraw])
        #expect(online.collectorVersion == kept.version && online.origin == .kept(path: file.path))
        #expect(online.summary == "9 event types (the collector's interest v\(kept.version) kept in \(file.path); leaving out open.nameraw)")
        #expect(choose(nil, shipping: false).origin == .standard)

        // --events wins over what is kept, online too (the collector's interest replaces it once it answers).
        let option = try EventSelection.parse("default,read")
        let chosen = choose(option, shipping: true)
        #expect(chosen.events == option.events && chosen.omit.isEmpty && chosen.collectorVersion == nil)
        #expect(chosen.summary == "\(n + 1) event types (--events default,read)")
        #expect(said.isEmpty)

        // A corrupt file: said once, and the default.
        try "{\"interest\":".write(toFile: file.path, atomically: false, encoding: .utf8)
        let fallback = choose(nil, shipping: true)
        #expect(fallback.origin == .standard && fallback.events == EventSelection.standard)
        #expect(said.count == 1)
        #expect(said.first?.hasPrefix("lanner-sensor: warning: ignoring \(file.path): it is not JSON (12 bytes): ") == true, "\(said)")
        #expect(said.first?.hasSuffix("; capturing every kernel event type but read, write, pread64, pwrite64, readv, writev until the "
                                      + "collector says what its rules need") == true, "\(said)")
    }
}
