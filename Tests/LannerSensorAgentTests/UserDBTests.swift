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
}
