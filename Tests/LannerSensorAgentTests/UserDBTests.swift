import Foundation
import LannerSensorAgent
import LannerWire
import Testing

@Suite struct UserDBTests {
    @Test func parsesPasswdAndCountsMalformedLines() {
        let text = """
        root:x:0:0:root:/root:/bin/bash
        alice:x:1000:1000:Alice,,,:/home/alice:/bin/zsh

        broken line without colons
        bob:x:notanumber:1000::/home/bob:/bin/sh
        carol:x:1001:1001::/home/carol
        :x:5:5::/:/bin/sh
        dave:x:4294967295:4294967296::/:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
        """
        let (users, skipped) = UserDB.parsePasswd(bytes(text))
        #expect(users.map(\.name) == ["root", "alice", "nobody"])
        #expect(users[1] == UserDB.User(name: "alice", uid: 1000, gid: 1000, home: "/home/alice", shell: "/bin/zsh"))
        #expect(skipped == 5)
    }

    @Test func parsesGroups() {
        let (groups, skipped) = UserDB.parseGroup(bytes("root:x:0:\nadm:x:4:syslog,alice\nbad:x\nwheel:x:-1:\n"))
        #expect(groups == [UserDB.Group(name: "root", gid: 0), UserDB.Group(name: "adm", gid: 4)])
        #expect(skipped == 2)
    }

    @Test func recordsOfTheHostFilesDecode() throws {
        let snap = UserDB.records()
        var enc = BatchEncoder()
        for r in snap.records { try enc.append(record: r) }
        let batch = try BatchDecoder.decode(try enc.finish(header: BatchHeader(
            sequence: 1, bootTimeUnixNs: 0, sensorID: .zero, bootID: .zero, hostname: "t", sensorVersion: "t")))
        let users = try batch.records.filter { $0.eventType == .userinfo }.map { try UserinfoEvent($0) }
        let groups = try batch.records.filter { $0.eventType == .groupinfo }.map { try GroupinfoEvent($0) }
        let root = try #require(users.first { $0.uid == 0 })
        #expect(str(root.name) == "root" && str(root.home) == "/root")
        #expect(groups.contains { $0.gid == 0 && str($0.name) == "root" })
        #expect(batch.records.count == users.count + groups.count)
    }

    @Test func missingOrGarbageFilesNeverCrash() throws {
        let dir = makeTempDir("userdb")
        defer { removeTree(dir) }
        var junk = [UInt8](repeating: 0, count: 4096)
        for i in junk.indices { junk[i] = UInt8(truncatingIfNeeded: i &* 131 &+ 7) }
        _ = FileManager.default.createFile(atPath: dir + "/passwd", contents: Data(junk))
        let snap = UserDB.records(passwdPath: dir + "/passwd", groupPath: dir + "/nope")
        #expect(snap.skippedLines > 0)
        #expect(snap.records.isEmpty)
    }

    /// The watch on real files: nothing until a file changes; a replaced file (useradd writes a new one and
    /// renames it over) and an in-place edit of the same size are both noticed; the records are the new contents.
    @Test func watchNoticesReplacedAndEditedFiles() throws {
        let dir = NSTemporaryDirectory() + "lanner-userdb-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let passwd = dir + "/passwd", group = dir + "/group"
        try "root:x:0:0:root:/root:/bin/bash\n".write(toFile: passwd, atomically: false, encoding: .utf8)
        try "root:x:0:\n".write(toFile: group, atomically: false, encoding: .utf8)
        var watch = UserDB.Watch(passwdPath: passwd, groupPath: group)
        #expect({ watch.changed() == nil }())
        #expect({ watch.changed() == nil }())

        // Replaced by rename, as useradd does.
        try "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/zsh\n".write(toFile: dir + "/passwd+", atomically: false, encoding: .utf8)
        #expect(rename(dir + "/passwd+", passwd) == 0)
        let addedSnapshot = watch.changed()
        let added = try #require(addedSnapshot)
        let users = added.records.compactMap { bytes -> String? in
            let r = EventRecord(storage: bytes, start: 0, length: bytes.count)
            guard r.eventType == .userinfo, let u = try? UserinfoEvent(r) else { return nil }
            return "\(u.uid):\(String(decoding: u.name, as: UTF8.self)):\(String(decoding: u.shell, as: UTF8.self))"
        }
        #expect(users == ["0:root:/bin/bash", "1000:alice:/bin/zsh"])
        #expect(added.records.count == 3, "both users and the group")
        #expect({ watch.changed() == nil }())

        // Edited in place, same size: the mtime tells.
        usleep(10_000)
        let fd = open(group, O_WRONLY)
        #expect(pwrite(fd, "adms:x:0:\n", 10, 0) == 10)
        close(fd)
        let editedSnapshot = watch.changed()
        let edited = try #require(editedSnapshot)
        #expect(edited.records.count == 3)
        // A file that disappears is a change too (no records of its kind), and so is its return.
        #expect(unlink(group) == 0)
        let gone = watch.changed()
        #expect(gone?.records.count == 2)
        try "root:x:0:\n".write(toFile: group, atomically: false, encoding: .utf8)
        let back = watch.changed()
        #expect(back?.records.count == 3)
    }
}
