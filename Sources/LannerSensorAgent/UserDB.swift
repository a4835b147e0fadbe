import Glibc
import LannerWire

/// The host's users and groups as USERINFO and GROUPINFO records, read from /etc/passwd and /etc/group
/// directly (no NSS: the sensor reports the files the host has). A malformed line is skipped and counted.
public enum UserDB {
    /// One /etc/passwd entry.
    public struct User: Sendable, Equatable {
        public var name: String, uid: UInt32, gid: UInt32, home: String, shell: String
        public init(name: String, uid: UInt32, gid: UInt32, home: String, shell: String) {
            self.name = name
            self.uid = uid
            self.gid = gid
            self.home = home
            self.shell = shell
        }
    }

    /// One /etc/group entry.
    public struct Group: Sendable, Equatable {
        public var name: String, gid: UInt32
        public init(name: String, gid: UInt32) {
            self.name = name
            self.gid = gid
        }
    }

    /// The records of both files and how many lines were skipped as malformed.
    public struct Snapshot: Sendable {
        public var records: [[UInt8]]
        public var skippedLines: Int
    }

    /// USERINFO records (one per passwd entry), then GROUPINFO records (one per group). A missing file
    /// gives no records of its kind.
    public static func records(passwdPath: String = "/etc/passwd", groupPath: String = "/etc/group") -> Snapshot {
        let ts = ProcFiles.bootNanoseconds()
        let (users, badUsers) = parsePasswd(ProcFiles.read(passwdPath) ?? [])
        let (groups, badGroups) = parseGroup(ProcFiles.read(groupPath) ?? [])
        var out: [[UInt8]] = []
        out.reserveCapacity(users.count + groups.count)
        for u in users {
            let e = UserinfoEvent(pid: 0, tid: 0, ts: ts, uid: u.uid, gid: u.gid, name: ArraySlice(u.name.utf8),
                                  home: ArraySlice(u.home.utf8), shell: ArraySlice(u.shell.utf8))
            var w = ByteWriter(capacity: 64)
            if (try? e.encode(into: &w)) != nil { out.append(w.bytes) }
        }
        for g in groups {
            let e = GroupinfoEvent(pid: 0, tid: 0, ts: ts, gid: g.gid, name: ArraySlice(g.name.utf8))
            var w = ByteWriter(capacity: 32)
            if (try? e.encode(into: &w)) != nil { out.append(w.bytes) }
        }
        return Snapshot(records: out, skippedLines: badUsers + badGroups)
    }

    /// passwd(5): name:password:uid:gid:gecos:home:shell. Empty lines are ignored; any other line that does
    /// not have 7 fields, a name and numeric ids counts as skipped.
    public static func parsePasswd(_ text: [UInt8]) -> (users: [User], skipped: Int) {
        var users: [User] = []
        var skipped = 0
        for line in ProcFiles.lines(text) where !line.isEmpty {
            let f = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard f.count == 7, !f[0].isEmpty, let uid = id(f[2]), let gid = id(f[3]) else {
                skipped += 1
                continue
            }
            users.append(User(name: string(f[0]), uid: uid, gid: gid, home: string(f[5]), shell: string(f[6])))
        }
        return (users, skipped)
    }

    /// group(5): name:password:gid:members.
    public static func parseGroup(_ text: [UInt8]) -> (groups: [Group], skipped: Int) {
        var groups: [Group] = []
        var skipped = 0
        for line in ProcFiles.lines(text) where !line.isEmpty {
            let f = line.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false)
            guard f.count == 4, !f[0].isEmpty, let gid = id(f[2]) else {
                skipped += 1
                continue
            }
            groups.append(Group(name: string(f[0]), gid: gid))
        }
        return (groups, skipped)
    }

    private static func id(_ s: ArraySlice<UInt8>) -> UInt32? {
        guard !s.isEmpty, s.first != UInt8(ascii: "-"), let v = ProcFiles.int(s), v <= Int64(UInt32.max) else { return nil }
        return UInt32(v)
    }

    private static func string(_ s: ArraySlice<UInt8>) -> String { String(decoding: s, as: UTF8.self) }
}

extension UserDB {
    /// Notices when /etc/passwd or /etc/group changed (useradd, usermod, a package adding a system user): each
    /// file's device, inode, size, mtime and ctime. `useradd` replaces the file (new inode); an editor may write in
    /// place (new mtime). Checking is two stat calls.
    public struct Watch: Sendable {
        public let passwdPath: String
        public let groupPath: String
        private var last: [Stamp?]

        struct Stamp: Equatable, Sendable {
            var dev: UInt64, ino: UInt64, size: Int64, mtimeNs: Int64, ctimeNs: Int64
        }

        /// Takes the files' current state as seen (the start snapshot already holds them).
        public init(passwdPath: String = "/etc/passwd", groupPath: String = "/etc/group") {
            self.passwdPath = passwdPath
            self.groupPath = groupPath
            last = [Self.stamp(passwdPath), Self.stamp(groupPath)]
        }

        static func stamp(_ path: String) -> Stamp? {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            return Stamp(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino), size: Int64(st.st_size),
                         mtimeNs: Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec),
                         ctimeNs: Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec))
        }

        /// Every user and group again when either file changed since the last call (or since `init`); nil when
        /// neither did. The collector overwrites its entries by uid and gid.
        public mutating func changed() -> Snapshot? {
            let now = [Self.stamp(passwdPath), Self.stamp(groupPath)]
            guard now != last else { return nil }
            last = now
            return UserDB.records(passwdPath: passwdPath, groupPath: groupPath)
        }
    }
}
