/// Container ids from cgroup paths, for the runtimes Falco recognises.
///
/// - docker:      `/docker/<64 hex>`, `/system.slice/docker-<64 hex>.scope`
/// - podman:      `/libpod_parent/libpod-<64 hex>`, `/machine.slice/libpod-<64 hex>.scope`
/// - containerd:  `/kubepods/besteffort/pod<uid>/<64 hex>`, `cri-containerd-<64 hex>.scope`
/// - cri-o:       `crio-<64 hex>.scope`
/// Conmon and other runtime helper cgroups (`libpod-conmon-…`, `crio-conmon-…`) are not containers.
public enum ContainerID {
    /// The full 64-hex-digit id in `cgroup`, or nil for a host process.
    public static func parse(_ cgroup: UnsafeRawBufferPointer) -> String? {
        let b = Array(cgroup)
        guard b.count >= 64 else { return nil }
        // Scan the path's components from the last; the first component holding a 64-hex run wins.
        var end = b.count
        while end > 0 {
            var start = end
            while start > 0 && b[start - 1] != 0x2f { start -= 1 }
            if let id = id(in: b[start..<end]) { return id }
            end = start > 0 ? start - 1 : 0
        }
        return nil
    }

    public static func parse(_ cgroup: String) -> String? {
        Array(cgroup.utf8).withUnsafeBytes { parse($0) }
    }

    static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x61 && c <= 0x66) }

    static func id(in component: ArraySlice<UInt8>) -> String? {
        let s = Array(component)
        let text = String(decoding: s, as: UTF8.self)
        if text.contains("conmon") { return nil }
        var i = 0
        while i + 64 <= s.count {
            if isHex(s[i]) && (i == 0 || !isHex(s[i - 1])) {
                var j = i
                while j < s.count && isHex(s[j]) { j += 1 }
                if j - i == 64 {
                    let prefixOK = i == 0 || text.hasPrefix("docker-") || text.hasPrefix("libpod-") || text.hasPrefix("crio-")
                        || text.hasPrefix("cri-containerd-") || s[i - 1] == 0x2d
                    if prefixOK { return String(decoding: s[i..<j], as: UTF8.self) }
                }
                i = j
            } else {
                i += 1
            }
        }
        return nil
    }
}
