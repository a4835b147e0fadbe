import CBPF
import Glibc
import Synchronization

/// libbpf's messages, kept instead of printed: the last lines go into `BPFError.load` so a verifier
/// rejection explains itself. Set LANNER_BPF_DEBUG=1 to also copy every message (debug level included)
/// to stderr.
enum BPFLog {
    static let maxLines = 200
    private static let lines = Mutex<[String]>([])
    private static let echo = getenv("LANNER_BPF_DEBUG") != nil

    /// Installs the print callback once per process (libbpf's print hook is global).
    static let installed: Void = {
        _ = libbpf_set_print(libbpfPrint)
    }()

    static func record(_ level: libbpf_print_level, _ line: String) {
        if echo { FileDescriptorWriter.stderr(line) }
        guard level != LIBBPF_DEBUG else { return }
        lines.withLock { l in
            l.append(line)
            if l.count > maxLines { l.removeFirst(l.count - maxLines) }
        }
    }

    /// Takes the lines collected so far (and forgets them).
    static func drain() -> [String] {
        lines.withLock { l in
            defer { l.removeAll() }
            return l
        }
    }
}

private let libbpfPrint: libbpf_print_fn_t = { level, format, args in
    guard let format, let args else { return 0 }
    var buf = [CChar](repeating: 0, count: 1024)
    let n = buf.withUnsafeMutableBufferPointer { vsnprintf($0.baseAddress, $0.count, format, args) }
    guard n > 0 else { return 0 }
    var line = buf.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    while line.last == "\n" { line.removeLast() }
    BPFLog.record(level, line)
    return n
}

/// Writes a line to fd 2 without touching glibc's `stderr` global (not concurrency-safe in Swift 6).
enum FileDescriptorWriter {
    static func stderr(_ s: String) {
        var line = s
        line.append("\n")
        line.withCString { p in _ = write(2, p, strlen(p)) }
    }
}
