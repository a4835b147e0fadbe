import Glibc

/// Small readers for /proc and /etc files: raw bytes through open/read, no Foundation, nil when the file
/// is gone (a process that exits mid-read is normal, not an error).
enum ProcFiles {
    /// The whole file, at most `limit` bytes; nil when it cannot be opened or read.
    static func read(_ path: String, limit: Int = 1 << 20) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while out.count < limit {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, min($0.count, limit - out.count)) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
        }
        return out
    }

    /// A symlink's target; nil when unreadable (kernel threads have no exe, other users' links need root).
    static func readLink(_ path: String) -> [UInt8]? {
        var buf = [UInt8](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = buf.withUnsafeMutableBytes { readlink(path, $0.baseAddress!.assumingMemoryBound(to: CChar.self), $0.count) }
        guard n >= 0 else { return nil }
        return Array(buf[0..<n])
    }

    /// Splits bytes into lines (without the newline).
    static func lines(_ b: [UInt8]) -> [ArraySlice<UInt8>] {
        b.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
    }

    /// Parses a decimal integer (optionally signed); nil when not all digits.
    static func int<S: Collection>(_ s: S) -> Int64? where S.Element == UInt8 {
        var it = s.makeIterator()
        var neg = false
        var v: Int64 = 0
        var any = false
        var first = true
        while let c = it.next() {
            if first && c == UInt8(ascii: "-") { neg = true; first = false; continue }
            first = false
            guard c >= 48 && c <= 57 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 48))
            guard !o1 && !o2 else { return nil }
            v = a
            any = true
        }
        return any ? (neg ? -v : v) : nil
    }

    static func hex<S: Collection>(_ s: S) -> UInt64? where S.Element == UInt8 {
        var v: UInt64 = 0
        var any = false
        for c in s {
            let d: UInt64
            switch c {
            case 48...57: d = UInt64(c - 48)
            case 97...102: d = UInt64(c - 87)
            case 65...70: d = UInt64(c - 55)
            default: return nil
            }
            guard v >> 60 == 0 else { return nil }
            v = v << 4 | d
            any = true
        }
        return any ? v : nil
    }

    /// Nanoseconds since boot (CLOCK_BOOTTIME), the clock of every record's `ts`.
    static func bootNanoseconds() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_BOOTTIME, &t)
        return UInt64(t.tv_sec) * 1_000_000_000 + UInt64(t.tv_nsec)
    }
}
