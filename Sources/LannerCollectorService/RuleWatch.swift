import Foundation
import Glibc

/// What the rule paths given to `serve` stand for on disk, to notice an edit without a SIGHUP: for each path, the
/// files it loads (a directory's *.yaml / *.yml, as `RuleSources.expand` reads them) and each file's identity and
/// version (device, inode, size, modification and change times, following symlinks); a directory by its device and
/// inode only. Equal snapshots mean no rule file was added, removed, replaced or written; taking one costs a stat per
/// file and a listing per directory.
public struct RuleFilesSnapshot: Equatable, Sendable {
    public struct File: Equatable, Sendable {
        public var path: String
        /// nil: missing (or not a regular file or directory the collector can read).
        public var stamp: Stamp?
    }

    public struct Stamp: Equatable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64
        var modified: Int64, changed: Int64   // ns
    }

    public private(set) var files: [File] = []

    /// Stats `paths` and the files in the directories among them (not recursive, as the loader reads them).
    public static func take(_ paths: [String]) -> RuleFilesSnapshot {
        var out = RuleFilesSnapshot()
        for p in paths {
            var st = stat()
            guard stat(p, &st) == 0 else {
                out.files.append(File(path: p, stamp: nil))
                continue
            }
            if st.st_mode & S_IFMT == S_IFDIR {
                // The directory by identity only: its times change with any file in it (an editor's swap file), and
                // its *.yaml files are listed below.
                out.files.append(File(path: p, stamp: Stamp(directory: st)))
                let names = ((try? FileManager.default.contentsOfDirectory(atPath: p)) ?? [])
                    .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
                for n in names {
                    let f = (p as NSString).appendingPathComponent(n)
                    var fst = stat()
                    out.files.append(File(path: f, stamp: stat(f, &fst) == 0 ? Stamp(fst) : nil))
                }
            } else {
                out.files.append(File(path: p, stamp: Stamp(st)))
            }
        }
        return out
    }

    /// What differs from `old`, for the log: `rules/new.yaml added, rules/base.yaml changed` (at most three named).
    public func changes(since old: RuleFilesSnapshot) -> String {
        var before: [String: Stamp?] = [:]
        for f in old.files { before[f.path] = f.stamp }
        var now: Set<String> = []
        var parts: [String] = []
        for f in files {
            now.insert(f.path)
            switch (before[f.path], f.stamp) {
            case (nil, _), (.some(nil), .some): parts.append(f.path + " added")
            case (.some(.some), nil): parts.append(f.path + " removed")
            case (.some(let a), let b) where a != b: parts.append(f.path + " changed")
            default: break
            }
        }
        for f in old.files where !now.contains(f.path) { parts.append(f.path + " removed") }
        if parts.isEmpty { return "no file changed" }
        return parts.prefix(3).joined(separator: ", ") + (parts.count > 3 ? " and \(parts.count - 3) more" : "")
    }
}

extension RuleFilesSnapshot.Stamp {
    init(_ st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modified = Int64(st.st_mtim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_mtim.tv_nsec)
        changed = Int64(st.st_ctim.tv_sec) &* 1_000_000_000 &+ Int64(st.st_ctim.tv_nsec)
    }

    /// A directory: which one it is, not its times.
    init(directory st: stat) {
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = 0
        modified = 0
        changed = 0
    }
}

/// When the rule files have changed enough to reload: polled by `serve`'s main thread (between signals), it takes a
/// snapshot every `interval`; a change is acted on once the files have stayed as they are for `settle` (an editor's
/// save, `cp -r`, a `git pull` or a Kubernetes ConfigMap swap land in several steps), or after `maxWait` of
/// continuous change. Pure apart from the stats: the clock is passed in.
public struct RuleWatcher: Sendable {
    public let paths: [String]
    public let interval: Duration
    public let settle: Duration
    public let maxWait: Duration
    /// What the running rules were loaded from (taken just before each load).
    public private(set) var baseline: RuleFilesSnapshot
    /// A change seen, not acted on yet: the files as last seen, when they were first seen differing, when last changed.
    private var pending: (snapshot: RuleFilesSnapshot, firstSeen: ContinuousClock.Instant, lastChange: ContinuousClock.Instant)?
    private var nextLook: ContinuousClock.Instant

    /// - Parameter baseline: the snapshot taken before the running rules were read (default: now).
    public init(paths: [String], baseline: RuleFilesSnapshot? = nil, interval: Duration = .seconds(2), settle: Duration = .milliseconds(500),
                maxWait: Duration = .seconds(10), now: ContinuousClock.Instant = .now) {
        self.paths = paths
        self.interval = interval
        self.settle = settle
        self.maxWait = maxWait
        self.baseline = baseline ?? RuleFilesSnapshot.take(paths)
        nextLook = now + interval
    }

    /// How long the caller may wait before the next `poll`.
    public func timeUntilNextLook(now: ContinuousClock.Instant = .now) -> Duration { max(.zero, nextLook - now) }

    /// Looks at the files when it is time; returns what changed when a reload is due (the caller reloads, then calls
    /// `reloaded`), else nil.
    public mutating func poll(now: ContinuousClock.Instant = .now) -> String? {
        guard now >= nextLook else { return nil }
        let current = RuleFilesSnapshot.take(paths)
        if let p = pending {
            if current != p.snapshot {
                pending = (current, p.firstSeen, now)
            }
        } else if current != baseline {
            pending = (current, now, now)
        }
        guard let p = pending else {
            nextLook = now + interval
            return nil
        }
        if current == baseline {
            // Changed and changed back (a file touched and restored, a swap undone): nothing to reload.
            pending = nil
            nextLook = now + interval
            return nil
        }
        if now - p.lastChange >= settle || now - p.firstSeen >= maxWait {
            return current.changes(since: baseline)
        }
        nextLook = min(p.lastChange + settle, p.firstSeen + maxWait)
        nextLook = max(nextLook, now + .milliseconds(100))
        return nil
    }

    /// The rules were (re)loaded from what `snapshot` describes, taken before the files were read: on SIGHUP, or
    /// after `poll` said so. A change made during the load differs from it and is seen at the next look.
    public mutating func reloaded(_ snapshot: RuleFilesSnapshot, now: ContinuousClock.Instant = .now) {
        baseline = snapshot
        pending = nil
        nextLook = now + interval
    }
}
