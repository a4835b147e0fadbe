import FoundationEssentials
import Glibc
import LannerCore

/// The bearer token sensors and the collector share: from `--token-file FILE`, else `$LANNER_TOKEN`.
public enum BearerToken {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads the token. `warning` is set when the file is readable by anyone but its owner.
    /// - Throws: `Failure` when the file cannot be read, is empty, or no token is given at all.
    public static func read(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment)
        throws(Failure) -> (token: String, warning: String?)
    {
        guard let file else {
            let t = (environment["LANNER_TOKEN"] ?? "").trimmed()
            guard !t.isEmpty else { throw Failure(description: "no token: pass --token-file FILE or set LANNER_TOKEN") }
            return (t, nil)
        }
        var st = stat()
        guard stat(file, &st) == 0 else {
            throw Failure(description: "cannot read token file \(file): \(String(cString: strerror(errno)))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw Failure(description: "token file \(file) is not a regular file") }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw Failure(description: "cannot read token file \(file): \(String(cString: strerror(errno)))")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw Failure(description: "token file \(file) is not UTF-8 text") }
        let t = text.trimmed()
        guard !t.isEmpty else { throw Failure(description: "token file \(file) is empty") }
        guard !t.contains(where: { $0.isWhitespace }) else {
            throw Failure(description: "token file \(file) holds more than one word; the token is one line without blanks")
        }
        var warning: String?
        if st.st_mode & 0o077 != 0 {
            warning = "token file \(file) is readable by others (mode \(String(st.st_mode & 0o777, radix: 8))); "
                + "anyone who reads it can send events: chmod 600 \(file)"
        }
        return (t, warning)
    }
}
