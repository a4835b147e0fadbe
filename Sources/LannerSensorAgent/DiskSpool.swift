import Glibc
import LannerWire

/// Batches kept in files while the collector cannot take them: `<state-dir>/spool/<sequence as 16 hex
/// digits>.lnrb`, one batch body per file exactly as it will be sent. Names sort in sequence order (sequence =
/// run epoch << 32 | n), so the oldest is sent first, across sensor runs too.
///
/// A file is written as `<name>.tmp`, fsync'd, renamed, and the directory fsync'd: after a crash a batch file
/// is either whole or absent (a leftover `.tmp` is removed at the next start). Files found at start are checked
/// (magic, sequence matching the name, header within the file); a damaged one is moved to `spool/rejected/`
/// with a log line naming it and the reason, never sent as if it were good and never silently deleted.
///
/// Not thread-safe: `Spool` serialises the calls that change the index.
final class DiskSpool {
    struct Entry: Equatable {
        let sequence: UInt64
        let events: Int
        let bytes: Int
    }

    let directory: String
    let maxBytes: Int
    private(set) var usedBytes = 0

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Creates the directory (0700) when missing and takes stock of what a previous run left.
    /// - Returns: the spool and the entries found, oldest first, plus a log line per file put aside.
    static func open(directory: String, maxBytes: Int) throws(Failure) -> (DiskSpool, [Entry], [String]) {
        let spool = DiskSpool(directory: directory, maxBytes: maxBytes)
        try makeDirectory(directory)
        var entries: [Entry] = []
        var notes: [String] = []
        for name in try listNames(directory) {
            let path = directory + "/" + name
            if name.hasSuffix(".tmp") {
                unlink(path)   // a write that never finished: its batch is still in the sender's memory or lost with it
                continue
            }
            guard name.hasSuffix(".lnrb"), name.count == 21, let seq = UInt64(name.prefix(16), radix: 16) else { continue }
            switch spool.check(path: path, sequence: seq) {
            case .success(let e):
                entries.append(e)
                spool.usedBytes += e.bytes
            case .failure(let why):
                notes.append(spool.reject(name: name, why: why.description))
            }
        }
        entries.sort { $0.sequence < $1.sequence }
        return (spool, entries, notes)
    }

    private init(directory: String, maxBytes: Int) {
        self.directory = directory
        self.maxBytes = maxBytes
    }

    func path(_ sequence: UInt64) -> String {
        let hex = String(sequence, radix: 16)
        return directory + "/" + String(repeating: "0", count: 16 - hex.count) + hex + ".lnrb"
    }

    func fits(_ bytes: Int) -> Bool { usedBytes + bytes <= maxBytes }

    /// Writes one batch durably. Thread-safe with respect to other writes (distinct files); the caller updates
    /// the index with `added`.
    func write(_ b: Batcher.Finished) throws(Failure) -> Entry {
        do { try StateFile.write(path(b.sequence), b.body) } catch { throw Failure(description: error.description) }
        return Entry(sequence: b.sequence, events: b.events, bytes: b.body.count)
    }

    func added(_ e: Entry) { usedBytes += e.bytes }

    /// The batch in a file written earlier.
    func read(_ e: Entry) throws(Failure) -> [UInt8] {
        let p = path(e.sequence)
        guard let bytes = ProcFiles.read(p, limit: 1 << 30) else {
            throw Failure(description: "cannot read spooled batch \(p): \(String(cString: strerror(errno)))")
        }
        guard bytes.count == e.bytes else { throw Failure(description: "spooled batch \(p) changed size (\(e.bytes) → \(bytes.count) bytes)") }
        return bytes
    }

    /// Deletes a sent (or given-up) batch's file.
    func remove(_ e: Entry) {
        unlink(path(e.sequence))
        usedBytes -= e.bytes
    }

    /// Moves a damaged file aside; returns the log line.
    func reject(name: String, why: String) -> String {
        let dir = directory + "/rejected"
        mkdir(dir, 0o700)
        let target = dir + "/" + name
        let moved = rename(directory + "/" + name, target) == 0
        return "lanner-sensor: spool file \(directory)/\(name) is not a batch to send (\(why)); "
            + (moved ? "moved to \(target)" : "could not move it aside (\(String(cString: strerror(errno)))); left in place and skipped")
    }

    /// The header facts of a spooled file, or why it cannot be one of ours.
    func check(path: String, sequence: UInt64) -> Result<Entry, Failure> {
        var st = stat()
        guard stat(path, &st) == 0, let head = ProcFiles.read(path, limit: 512) else {
            return .failure(Failure(description: "unreadable: \(String(cString: strerror(errno)))"))
        }
        let size = Int(st.st_size)
        func u32(_ at: Int) -> UInt32 { UInt32(head[at]) | UInt32(head[at + 1]) << 8 | UInt32(head[at + 2]) << 16 | UInt32(head[at + 3]) << 24 }
        func u64(_ at: Int) -> UInt64 { UInt64(u32(at)) | UInt64(u32(at + 4)) << 32 }
        guard head.count >= BatchHeader.fixedSize + 4 else {
            return .failure(Failure(description: "\(head.count) bytes, shorter than a batch header (\(BatchHeader.fixedSize + 4))"))
        }
        guard Array(head[0..<4]) == BatchHeader.magic else { return .failure(Failure(description: "no LNRB magic at byte 0")) }
        guard Int(u32(8)) <= size else { return .failure(Failure(description: "header length \(u32(8)) at byte 8 runs past the file's \(size) bytes")) }
        guard u64(16) == sequence else {
            return .failure(Failure(description: "sequence \(u64(16)) at byte 16 does not match the file name"))
        }
        return .success(Entry(sequence: sequence, events: Int(u32(48)), bytes: size))
    }

    private static func makeDirectory(_ dir: String) throws(Failure) {
        var st = stat()
        if stat(dir, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFDIR else { throw Failure(description: "spool directory \(dir) exists and is not a directory") }
            return
        }
        guard mkdir(dir, 0o700) == 0 || errno == EEXIST else {
            throw Failure(description: "cannot create spool directory \(dir): \(String(cString: strerror(errno)))")
        }
    }

    private static func listNames(_ dir: String) throws(Failure) -> [String] {
        guard let d = opendir(dir) else { throw Failure(description: "cannot list \(dir): \(String(cString: strerror(errno)))") }
        defer { closedir(d) }
        var out: [String] = []
        while let ent = readdir(d) {
            let name = withUnsafePointer(to: ent.pointee.d_name) { $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) } }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }
}
