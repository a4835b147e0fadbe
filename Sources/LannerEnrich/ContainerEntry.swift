import LannerWire

/// One mount of a container, as the runtime reports it (Falco's container.mount.* parts).
public final class ContainerMount {
    public let source: ByteString
    public let dest: ByteString
    public let mode: ByteString
    /// "true" or "false" (container.mount.rdwr).
    public let rdwr: ByteString
    public let propagation: ByteString
    /// `source:dest:mode:rdwr:propagation` (container.mount[...], one item of container.mounts).
    public let text: ByteString

    init(source: [UInt8], dest: [UInt8], mode: [UInt8], rdwr: Bool, propagation: [UInt8]) {
        self.source = ByteString(source)
        self.dest = ByteString(dest)
        self.mode = ByteString(mode)
        self.rdwr = rdwr ? ContainerEntry.trueText : ContainerEntry.falseText
        self.propagation = ByteString(propagation)
        let colon = UInt8(ascii: ":")
        text = ByteString(source + [colon] + dest + [colon] + mode + [colon] + Array(self.rdwr.buffer) + [colon] + propagation)
    }
}

/// A container's metadata as the sensor sent it (a CONTAINERINFO record), with every rendering a field needs
/// worked out once when the record arrives: extractors only hand out these bytes. A field whose value the
/// runtime did not give is nil (rendered `<NA>`).
public final class ContainerEntry {
    public let fullID: String
    public let name: ByteString?
    public let image: ByteString?
    public let imageRepository: ByteString?
    public let imageTag: ByteString?
    public let imageDigest: ByteString?
    public let imageID: ByteString?
    /// container.type: podman, docker.
    public let type: ByteString?
    public let privileged: Bool
    public let hostPID: Bool
    public let hostNetwork: Bool
    public let hostIPC: Bool
    /// Start, ns since the Unix epoch; 0 when unknown.
    public let startedNs: UInt64
    public let labels: [String: ByteString]
    /// container.labels: `key:value` pairs sorted by key, joined by ", ", without the kubelet's own
    /// `io.kubernetes.*` and `annotation.*` keys (as Falco's container plugin renders them).
    public let labelsText: ByteString
    public let mounts: [ContainerMount]
    /// container.mounts: every mount's text, joined by commas.
    public let mountsText: ByteString
    /// Kubernetes pod details from the kubelet's container labels (io.kubernetes.pod.*), nil outside a pod.
    public let podName: ByteString?
    public let podNamespace: ByteString?
    public let podUID: ByteString?
    public let sandboxID: ByteString?
    public let sandboxShortID: ByteString?
    public let marathonAppID: ByteString?

    static let trueText = ByteString("true")
    static let falseText = ByteString("false")

    /// Builds the entry from a CONTAINERINFO record (not a removal).
    init(_ r: RecordView) {
        func text(_ i: Int) -> [UInt8] { Array(r.variable(i)) }
        func optional(_ b: [UInt8]) -> ByteString? { b.isEmpty ? nil : ByteString(b) }
        fullID = String(decoding: r.variable(Layout.Container.id), as: UTF8.self)
        name = optional(text(Layout.Container.name))
        let imageBytes = text(Layout.Container.image)
        image = optional(imageBytes)
        let parts = ImageReference(imageBytes)
        imageRepository = optional(parts.repository)
        imageTag = optional(parts.tag)
        imageDigest = optional(parts.digest)
        imageID = optional(text(Layout.Container.imageID))
        type = optional(text(Layout.Container.runtime))
        let flags = r.load(UInt32.self, at: Layout.Container.flags)
        privileged = flags & 1 != 0
        hostPID = flags & 2 != 0
        hostNetwork = flags & 4 != 0
        hostIPC = flags & 8 != 0
        startedNs = r.load(UInt64.self, at: Layout.Container.startedNs)

        let labelItems = ContainerEntry.items(r.variable(Layout.Container.labels))
        var labels: [String: ByteString] = [:]
        var pairs: [(key: [UInt8], value: [UInt8])] = []
        var i = 0
        while i + 1 < labelItems.count {
            let k = labelItems[i], v = labelItems[i + 1]
            labels[String(decoding: k, as: UTF8.self)] = ByteString(v)
            pairs.append((k, v))
            i += 2
        }
        self.labels = labels
        labelsText = ByteString(ContainerEntry.renderLabels(pairs))
        podName = labels["io.kubernetes.pod.name"]
        podNamespace = labels["io.kubernetes.pod.namespace"]
        podUID = labels["io.kubernetes.pod.uid"]
        sandboxID = labels["io.kubernetes.sandbox.id"]
        sandboxShortID = sandboxID.map { ByteString(Array($0.buffer.prefix(12))) }

        let mountItems = ContainerEntry.items(r.variable(Layout.Container.mounts))
        var mounts: [ContainerMount] = []
        var m = 0
        while m + 4 < mountItems.count {
            mounts.append(ContainerMount(source: mountItems[m], dest: mountItems[m + 1], mode: mountItems[m + 2],
                                         rdwr: mountItems[m + 3] == Array("true".utf8), propagation: mountItems[m + 4]))
            m += 5
        }
        self.mounts = mounts
        var all: [UInt8] = []
        for (n, mount) in mounts.enumerated() {
            if n > 0 { all.append(UInt8(ascii: ",")) }
            all += mount.text.buffer
        }
        mountsText = ByteString(all)
        marathonAppID = optional(text(Layout.Container.marathonAppID))
    }

    /// The items of a strlist field.
    static func items(_ b: UnsafeRawBufferPointer) -> [[UInt8]] { RecordDump.splitList(ArraySlice(b)).map(Array.init) }

    /// `key:value, key2:value2` in key order, leaving out the kubelet's bookkeeping keys; a label with an
    /// empty value is just its key.
    static func renderLabels(_ pairs: [(key: [UInt8], value: [UInt8])]) -> [UInt8] {
        let internalPrefixes = [Array("io.kubernetes.".utf8), Array("annotation.".utf8)]
        var out: [UInt8] = []
        for p in pairs.sorted(by: { $0.key.lexicographicallyPrecedes($1.key) })
        where !internalPrefixes.contains(where: { p.key.starts(with: $0) }) {
            if !out.isEmpty { out += [UInt8(ascii: ","), UInt8(ascii: " ")] }
            out += p.key
            if !p.value.isEmpty { out.append(UInt8(ascii: ":")); out += p.value }
        }
        return out
    }

    /// The first mount whose source (or, with `byDestination`, destination) matches the glob `pattern`.
    func mount(matching pattern: Glob, byDestination: Bool) -> ContainerMount? {
        mounts.first { pattern.matches((byDestination ? $0.dest : $0.source).buffer) }
    }
}

/// An image reference split as Falco splits it: `[host[:port]/]name[:tag][@digest]`, the repository being
/// everything before the tag (`localhost/bbox:latest` → `localhost/bbox`, `latest`). A reference with neither
/// tag nor digest means `latest`, as the runtimes read it.
public struct ImageReference: Equatable, Sendable {
    public var repository: [UInt8]
    public var tag: [UInt8]
    public var digest: [UInt8]

    public init(_ image: [UInt8]) {
        let slash = UInt8(ascii: "/"), colon = UInt8(ascii: ":"), at = UInt8(ascii: "@")
        // The first component is a registry host only when something follows it.
        var prefix: [UInt8] = []
        var rest = image[...]
        if let s = image.firstIndex(of: slash) {
            prefix = Array(image[...s])
            rest = image[(s + 1)...]
        }
        var nameAndTag = rest
        digest = []
        if let a = rest.firstIndex(of: at) {
            nameAndTag = rest[..<a]
            digest = Array(rest[(a + 1)...])
        }
        if let c = nameAndTag.firstIndex(of: colon) {
            repository = prefix + Array(nameAndTag[..<c])
            tag = Array(nameAndTag[(c + 1)...])
        } else {
            repository = prefix + Array(nameAndTag)
            tag = digest.isEmpty && !image.isEmpty ? Array("latest".utf8) : []
        }
    }

    public init(_ image: String) { self.init(Array(image.utf8)) }
}

/// A shell-style pattern (`*`, `?`, `[abc]`, `[a-z]`, `[!x]`, `\` escapes), matched against a whole path as
/// fnmatch(3) does without flags: `*` also matches `/`. Used by container.mount.*[PATTERN]. A pattern
/// without special characters is a plain comparison.
public struct Glob: Sendable {
    let pattern: [UInt8]
    let literal: Bool

    public init(_ text: String) {
        pattern = Array(text.utf8)
        literal = !pattern.contains { $0 == UInt8(ascii: "*") || $0 == UInt8(ascii: "?") || $0 == UInt8(ascii: "[") || $0 == UInt8(ascii: "\\") }
    }

    public func matches(_ s: UnsafeRawBufferPointer) -> Bool {
        if literal { return s.count == pattern.count && s.elementsEqual(pattern) }
        // Iterative matching with one backtrack point: the last `*` seen.
        var p = 0, i = 0
        var star = -1, starAt = 0
        while i < s.count {
            if p < pattern.count {
                switch pattern[p] {
                case UInt8(ascii: "*"):
                    star = p
                    starAt = i
                    p += 1
                    continue
                case UInt8(ascii: "?"):
                    p += 1
                    i += 1
                    continue
                case UInt8(ascii: "["):
                    if let b = bracket(at: p, s[i]) {
                        if b.0 { p = b.1; i += 1; continue }
                    } else if s[i] == UInt8(ascii: "[") {   // no closing ']': a literal '['
                        p += 1; i += 1; continue
                    }
                case UInt8(ascii: "\\") where p + 1 < pattern.count:
                    if pattern[p + 1] == s[i] { p += 2; i += 1; continue }
                default:
                    if pattern[p] == s[i] { p += 1; i += 1; continue }
                }
            }
            guard star >= 0 else { return false }
            p = star + 1
            starAt += 1
            i = starAt
        }
        while p < pattern.count && pattern[p] == UInt8(ascii: "*") { p += 1 }
        return p == pattern.count
    }

    /// Whether `c` is in the bracket expression starting at `pattern[p]` (`[`), and the index after its `]`;
    /// nil when the expression has no closing `]`.
    func bracket(at p: Int, _ c: UInt8) -> (Bool, Int)? {
        var j = p + 1
        var negate = false
        if j < pattern.count && (pattern[j] == UInt8(ascii: "!") || pattern[j] == UInt8(ascii: "^")) { negate = true; j += 1 }
        var found = false
        var first = true
        while j < pattern.count && (first || pattern[j] != UInt8(ascii: "]")) {
            first = false
            let lo = pattern[j]
            if j + 2 < pattern.count && pattern[j + 1] == UInt8(ascii: "-") && pattern[j + 2] != UInt8(ascii: "]") {
                if lo <= c && c <= pattern[j + 2] { found = true }
                j += 3
            } else {
                if lo == c { found = true }
                j += 1
            }
        }
        guard j < pattern.count else { return nil }
        return (found != negate, j + 1)
    }
}
