import FoundationEssentials
import Glibc
import LannerCore
import LannerWire

/// Who and where this sensor is: its persistent id, the host's boot, and the host name.
public struct SensorIdentity: Sendable {
    public var sensorID: ID128
    public var bootID: ID128
    /// Wall-clock time of this boot, ns since the Unix epoch (event ts + this = event time).
    public var bootTimeUnixNs: UInt64
    public var hostname: String

    public init(sensorID: ID128, bootID: ID128, bootTimeUnixNs: UInt64, hostname: String) {
        self.sensorID = sensorID
        self.bootID = bootID
        self.bootTimeUnixNs = bootTimeUnixNs
        self.hostname = hostname
    }

    /// Reads (or creates, in `stateDirectory`) the sensor id and reads the boot facts.
    /// - Throws: when the state directory cannot be created or the id file cannot be written.
    public static func load(stateDirectory: String, hostname override: String? = nil) throws -> SensorIdentity {
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: true)
        let idPath = stateDirectory + "/sensor-id"
        var id: ID128
        if let text = try? String(contentsOfFile: idPath, encoding: .utf8), let parsed = ID128(hex: text) {
            id = parsed
        } else {
            var bytes = [UInt8](repeating: 0, count: 16)
            var rng = SystemRandomNumberGenerator()
            for i in 0..<16 { bytes[i] = UInt8.random(in: 0...255, using: &rng) }
            bytes[6] = (bytes[6] & 0x0f) | 0x40   // UUID v4
            bytes[8] = (bytes[8] & 0x3f) | 0x80
            id = ID128(bytes: bytes)
            try (id.description + "\n").write(toFile: idPath, atomically: true, encoding: .utf8)
        }
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8)).flatMap(ID128.init(hex:)) ?? .zero
        return SensorIdentity(sensorID: id, bootID: boot, bootTimeUnixNs: bootTimeUnixNs(),
                              hostname: fitting(override ?? hostName()))
    }

    /// `name` cut to what a batch header carries (255 bytes), on a character boundary: a longer name
    /// would make every batch unencodable.
    static func fitting(_ name: String) -> String {
        guard name.utf8.count > BatchHeader.maxHostname else { return name }
        var out = ""
        for ch in name {
            if out.utf8.count + String(ch).utf8.count > BatchHeader.maxHostname { break }
            out.append(ch)
        }
        return out
    }

    /// CLOCK_REALTIME − CLOCK_BOOTTIME, read back to back.
    public static func bootTimeUnixNs() -> UInt64 {
        var rt = timespec(), bt = timespec()
        clock_gettime(CLOCK_REALTIME, &rt)
        clock_gettime(CLOCK_BOOTTIME, &bt)
        let r = UInt64(rt.tv_sec) * 1_000_000_000 + UInt64(rt.tv_nsec)
        let b = UInt64(bt.tv_sec) * 1_000_000_000 + UInt64(bt.tv_nsec)
        return r &- b
    }

    public static func hostName() -> String {
        var buf = [CChar](repeating: 0, count: 256)
        gethostname(&buf, buf.count - 1)
        return String(decoding: buf.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One sensor per state directory: an exclusive `flock` on STATE-DIR/lock, held for the process's life. Two sensors
/// sharing a directory would share an id and a disk spool and race on the run epoch (whose sequence numbers the
/// collector deduplicates by), so the second one stops at start with the first one's pid.
public final class StateDirectoryLock {
    private let fd: Int32
    public let path: String

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Takes the lock, or says who holds it.
    public init(stateDirectory: String) throws(Failure) {
        path = stateDirectory + "/lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Failure(description: "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let e = errno
            var buf = [UInt8](repeating: 0, count: 32)
            let n = buf.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
            let holder = n > 0 ? String(decoding: buf[..<n], as: UTF8.self).trimmed() : ""
            close(fd)
            if e == EWOULDBLOCK {
                throw Failure(description: "another lanner-sensor\(holder.isEmpty ? "" : " (pid \(holder))") uses the state directory "
                              + "\(stateDirectory) (locked: \(path)); give each sensor its own --state-dir")
            }
            throw Failure(description: "cannot lock \(path): \(String(cString: strerror(e)))")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
    }

    deinit { close(fd) }   // releases the lock
}
