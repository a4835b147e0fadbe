import Glibc

/// Byte-level string operations used by checks. All work on raw buffers and allocate nothing.
public enum Bytes {
    @inlinable static func lower(_ c: UInt8) -> UInt8 { (c >= 0x41 && c <= 0x5a) ? c | 0x20 : c }

    @inlinable public static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }

    @inlinable public static func hasPrefix(_ a: UnsafeRawBufferPointer, _ p: UnsafeRawBufferPointer) -> Bool {
        p.count <= a.count && (p.count == 0 || memcmp(a.baseAddress!, p.baseAddress!, p.count) == 0)
    }

    @inlinable public static func hasSuffix(_ a: UnsafeRawBufferPointer, _ s: UnsafeRawBufferPointer) -> Bool {
        s.count <= a.count && (s.count == 0 || memcmp(a.baseAddress! + (a.count - s.count), s.baseAddress!, s.count) == 0)
    }

    @inlinable public static func contains(_ a: UnsafeRawBufferPointer, _ n: UnsafeRawBufferPointer) -> Bool {
        if n.count == 0 { return true }
        if n.count > a.count { return false }
        let first = Int32(n[0])
        var p = a.baseAddress!
        let end = a.baseAddress! + (a.count - n.count + 1)
        while p < end {
            guard let hit = memchr(p, first, end - p) else { return false }
            if memcmp(hit, n.baseAddress!, n.count) == 0 { return true }
            p = UnsafeRawPointer(hit) + 1
        }
        return false
    }

    /// ASCII case-insensitive containment; `lowerNeedle` must already be lower case.
    public static func containsIgnoringCase(_ a: UnsafeRawBufferPointer, lowerNeedle n: UnsafeRawBufferPointer) -> Bool {
        if n.count == 0 { return true }
        if n.count > a.count { return false }
        let first = n[0]
        var i = 0
        let last = a.count - n.count
        while i <= last {
            if lower(a[i]) == first {
                var j = 1
                while j < n.count && lower(a[i + j]) == n[j] { j += 1 }
                if j == n.count { return true }
            }
            i += 1
        }
        return false
    }

    /// Lexicographic order of byte strings.
    public static func compare(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Int {
        let n = min(a.count, b.count)
        if n > 0 {
            let r = memcmp(a.baseAddress!, b.baseAddress!, n)
            if r != 0 { return Int(r) }
        }
        return a.count - b.count
    }

    /// FNV-1a over the bytes.
    @inlinable public static func hash(_ a: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in a { h = (h ^ UInt64(b)) &* 0x100_0000_01b3 }
        return h
    }
}

/// Shell-style wildcard matching as Falco's `glob` does it (fnmatch without FNM_PATHNAME: `*` also
/// matches `/`). Supports `*`, `?`, `[...]` with ranges and `!`/`^` negation, and backslash escapes.
public enum Glob {
    public static func match(_ pattern: UnsafeRawBufferPointer, _ text: UnsafeRawBufferPointer, ignoreCase: Bool) -> Bool {
        var p = 0, t = 0
        var starP = -1, starT = 0
        let pc = pattern.count, tc = text.count
        @inline(__always) func fold(_ c: UInt8) -> UInt8 { ignoreCase ? Bytes.lower(c) : c }
        while t < tc {
            if p < pc {
                let c = pattern[p]
                if c == 0x2a {   // *
                    starP = p
                    starT = t
                    p += 1
                    continue
                }
                if c == 0x3f {   // ?
                    p += 1; t += 1
                    continue
                }
                if c == 0x5b, let (matched, next) = matchClass(pattern, p, fold(text[t]), ignoreCase: ignoreCase) {
                    if matched { p = next; t += 1; continue }
                } else {
                    var lit = c
                    var adv = 1
                    if c == 0x5c, p + 1 < pc { lit = pattern[p + 1]; adv = 2 }
                    if fold(lit) == fold(text[t]) { p += adv; t += 1; continue }
                }
            }
            if starP >= 0 {
                p = starP + 1
                starT += 1
                t = starT
                continue
            }
            return false
        }
        while p < pc && pattern[p] == 0x2a { p += 1 }
        return p == pc
    }

    /// Matches a `[...]` class at `p`; nil when the bracket is not a well-formed class (then it is literal).
    static func matchClass(_ pat: UnsafeRawBufferPointer, _ start: Int, _ c: UInt8, ignoreCase: Bool) -> (Bool, Int)? {
        var i = start + 1
        var negate = false
        if i < pat.count && (pat[i] == 0x21 || pat[i] == 0x5e) { negate = true; i += 1 }
        var matched = false
        var first = true
        while i < pat.count {
            var lo = pat[i]
            if lo == 0x5d && !first { return (matched != negate, i + 1) }
            first = false
            if lo == 0x5c && i + 1 < pat.count { i += 1; lo = pat[i] }
            var hi = lo
            if i + 2 < pat.count && pat[i + 1] == 0x2d && pat[i + 2] != 0x5d {
                hi = pat[i + 2]
                i += 2
            }
            let l = ignoreCase ? Bytes.lower(lo) : lo, h = ignoreCase ? Bytes.lower(hi) : hi
            if c >= l && c <= h { matched = true }
            i += 1
        }
        return nil
    }
}

/// Storage for constant strings owned by a compiled ruleset.
final class ConstantPool {
    private var blocks: [UnsafeMutableRawBufferPointer] = []

    func intern(_ bytes: [UInt8]) -> UnsafeRawBufferPointer {
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 8)
        for (i, b) in bytes.enumerated() { p[i] = b }
        blocks.append(p)
        return UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<bytes.count])
    }

    deinit { for b in blocks { b.deallocate() } }
}

/// A set of byte strings with allocation-free lookup (open addressing over FNV-1a). Plain data: the
/// table lives in unsafe memory the owner frees with `deallocate()`; keys point into a `ConstantPool`.
struct ByteStringSet {
    private let table: UnsafeMutablePointer<Int32>
    private let keys: UnsafeMutablePointer<UnsafeRawBufferPointer>
    private let mask: Int

    init(_ items: [UnsafeRawBufferPointer]) {
        var size = 8
        while size < items.count * 2 { size <<= 1 }
        table = .allocate(capacity: size)
        table.initialize(repeating: -1, count: size)
        keys = .allocate(capacity: max(items.count, 1))
        mask = size - 1
        var n = 0
        for it in items {
            var i = Int(truncatingIfNeeded: Bytes.hash(it)) & mask
            var dup = false
            while table[i] >= 0 {
                if Bytes.equal(keys[Int(table[i])], it) { dup = true; break }
                i = (i + 1) & mask
            }
            if dup { continue }
            table[i] = Int32(n)
            keys[n] = it
            n += 1
        }
    }

    func deallocate() {
        table.deallocate()
        keys.deallocate()
    }

    @inline(__always)
    func contains(_ v: UnsafeRawBufferPointer) -> Bool {
        var i = Int(truncatingIfNeeded: Bytes.hash(v)) & mask
        while true {
            let k = table[i]
            if k < 0 { return false }
            if Bytes.equal(keys[Int(k)], v) { return true }
            i = (i + 1) & mask
        }
    }
}

/// Falco's `pmatch`: true when some set element is a path prefix of the value, component-wise
/// (`/etc` matches `/etc` and `/etc/passwd`, not `/etcetera`). Elements may contain glob wildcards.
struct PathPrefixSet {
    let prefixes: [UnsafeRawBufferPointer]
    let globs: [UnsafeRawBufferPointer]

    init(_ items: [UnsafeRawBufferPointer]) {
        var p: [UnsafeRawBufferPointer] = []
        var g: [UnsafeRawBufferPointer] = []
        for it in items {
            var trimmed = it
            while trimmed.count > 1 && trimmed[trimmed.count - 1] == 0x2f { trimmed = UnsafeRawBufferPointer(rebasing: trimmed[0..<(trimmed.count - 1)]) }
            if it.contains(0x2a) || it.contains(0x3f) || it.contains(0x5b) { g.append(trimmed) } else { p.append(trimmed) }
        }
        prefixes = p
        globs = g
    }

    /// One element, without building a set.
    static func single(_ p: UnsafeRawBufferPointer, matches v: UnsafeRawBufferPointer) -> Bool {
        PathPrefixSet([p]).matches(v)
    }

    func matches(_ v: UnsafeRawBufferPointer) -> Bool {
        for p in prefixes where Bytes.hasPrefix(v, p) {
            if v.count == p.count || v[p.count] == 0x2f || (p.count == 1 && p[0] == 0x2f) { return true }
        }
        if globs.isEmpty { return false }
        // Glob elements match the value or any of its leading components.
        var end = v.count
        while end > 0 {
            let prefix = UnsafeRawBufferPointer(rebasing: v[0..<end])
            for g in globs where Glob.match(g, prefix, ignoreCase: false) { return true }
            guard let slash = prefix.lastIndex(of: 0x2f), slash > 0 else { break }
            end = slash
        }
        return false
    }
}
