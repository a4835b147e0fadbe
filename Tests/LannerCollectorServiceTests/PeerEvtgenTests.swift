import Foundation
import Testing
import LannerCollectorService
import LannerEnrich
import LannerRules
import LannerTestSupport
import LannerWire
import LannerYAML

/// ../shared/peer/falco-rule-tests/evtgen_suite/ (Falco's e2e specs for falco_rules.yaml): each test's
/// process chain and syscalls become real wire records, run through the collector's Analyzer with Falco's
/// rule file; the named rule must fire with the stated output fields. Tests that need event types or
/// container metadata Lanner does not model yet are listed with the reason, not skipped silently.
@Suite struct PeerEvtgenTests {
    struct Spec {
        var file: String
        var name: String
        var rule: String
        var processes: [[String: String]]
        var steps: [(syscall: String, args: [String: String])]
        var expected: [String: String]
        var container: String?
        var before: String?
    }

    static let root = Peer.root.appendingPathComponent("falco-rule-tests/evtgen_suite")

    static func scalar(_ n: YAMLNode?) -> String? {
        guard let n else { return nil }
        if n.isNull { return "null" }
        if let s = n.scalar { return s }
        if let m = n.mapping, m.isEmpty { return "{}" }
        if let seq = n.sequence { return seq.compactMap(\.scalar).joined(separator: ",") }
        return n.description
    }

    /// Every (test, case) of the suite, with `%{ item.x }` substituted.
    static func specs() throws -> [Spec] {
        var out: [Spec] = []
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".yaml") }.sorted()
        for f in files {
            // The suite's own tooling substitutes templates before YAML parsing, so a bare `key: %{ item.x }`
            // appears; quote those so the text is YAML.
            let raw = try String(contentsOf: root.appendingPathComponent(f), encoding: .utf8)
            let text = raw.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
                guard let r = line.firstRange(of: ": %{"), line.hasSuffix("}") else { return String(line) }
                return String(line[..<r.lowerBound]) + ": \"" + String(line[line.index(r.lowerBound, offsetBy: 2)...]) + "\""
            }.joined(separator: "\n")
            guard let doc = try YAMLParser.parse(text, source: f).first, let tests = doc["tests"]?.sequence else { continue }
            for t in tests {
                var rows: [[String: String]] = []
                for c in t["cases"]?.sequence ?? [] {
                    let values = c["values"]?.mapping ?? []
                    if c["strategy"]?.scalar == "vector" {
                        var row: [String: String] = [:]
                        for (k, v) in values { row[k.scalar ?? ""] = scalar(v) }
                        rows.append(row)
                    } else {
                        var product: [[String: String]] = [[:]]
                        for (k, v) in values {
                            let options = v.sequence.map { $0.map { scalar($0) ?? "" } } ?? [scalar(v) ?? ""]
                            product = product.flatMap { row in options.map { row.merging([k.scalar ?? "": $0]) { $1 } } }
                        }
                        rows += product
                    }
                }
                if rows.isEmpty { rows = [[:]] }
                for row in rows {
                    func sub(_ s: String?) -> String? {
                        guard var s else { return nil }
                        for (k, v) in row { s = s.replacingOccurrences(of: "%{ item.\(k) }", with: v) }
                        return s
                    }
                    let procs = (t["context"]?["processes"]?.sequence ?? []).map { p -> [String: String] in
                        var d: [String: String] = [:]
                        for (k, v) in p.mapping ?? [] { d[k.scalar ?? ""] = sub(scalar(v)) }
                        return d
                    }
                    let steps = (t["steps"]?.sequence ?? []).map { s -> (String, [String: String]) in
                        var args: [String: String] = [:]
                        for (k, v) in s["args"]?.mapping ?? [] {
                            if k.scalar == "how", let how = v.mapping {   // openat2's struct open_how
                                for (hk, hv) in how { args[hk.scalar ?? ""] = sub(scalar(hv)) }
                            } else {
                                args[k.scalar ?? ""] = sub(scalar(v))
                            }
                        }
                        return (sub(scalar(s["syscall"])) ?? "", args)
                    }
                    // A fileless process resource is an exec from a memfd the process could write.
                    var procsWithResources = procs
                    for r in t["resources"]?.sequence ?? [] where r["type"]?.scalar == "process" && r["fileLess"]?.bool == true {
                        let n = sub(scalar(r["name"])) ?? "memfd_proc"
                        procsWithResources.append(["name": n, "exe": "memfd:" + n, "exeFlags": "6"])
                    }
                    // A clientServer resource is a TCP connection from the acting process to `address`, set up
                    // before the steps run (they use its fd).
                    var allSteps: [(String, [String: String])] = []
                    for r in t["resources"]?.sequence ?? [] where r["type"]?.scalar == "clientServer" {
                        allSteps.append(("connect", ["address": sub(scalar(r["address"])) ?? "", "l4Proto": scalar(r["l4Proto"]) ?? "tcp4"]))
                    }
                    allSteps += steps
                    var expected: [String: String] = [:]
                    for (k, v) in t["expectedOutcome"]?["outputFields"]?.mapping ?? [] { expected[k.scalar ?? ""] = sub(scalar(v)) }
                    out.append(Spec(file: f, name: (t["name"]?.scalar ?? "") + (row.isEmpty ? "" : " " + row.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")),
                                    rule: t["rule"]?.scalar ?? "", processes: procsWithResources.isEmpty ? [["name": "event-generator"]] : procsWithResources,
                                    steps: allSteps, expected: expected,
                                    container: sub(scalar(t["context"]?["container"])), before: t["before"]?.scalar))
                }
            }
        }
        return out
    }

    /// Why a spec cannot be modelled yet (nil: it can): a syscall this harness does not turn into records, or a
    /// rule that does not run because it needs fields Lanner does not supply yet (named).
    static func unmodelled(_ s: Spec, running: [String: CompiledRule], loaded: [CompiledRule]) -> String? {
        let supported: Set<String> = ["open", "openat", "openat2", "connect", "link", "linkat", "symlink", "symlinkat", "socket", "dup", "dup2", "dup3"]
        if let bad = s.steps.first(where: { !supported.contains($0.syscall) }) {
            return "syscall \(bad.syscall) is not modelled by this harness"
        }
        if running[s.rule] == nil {
            let needs = loaded.first { $0.name == s.rule }?.unsupportedFields ?? []
            return "the rule needs fields Lanner does not supply yet: \(needs.joined(separator: ", ")) (issue 5)"
        }
        return nil
    }

    static let users: [(String, UInt32)] = [("root", 0), ("daemon", 1), ("bin", 2), ("sys", 3), ("sync", 4), ("games", 5), ("man", 6),
                                            ("lp", 7), ("mail", 8), ("news", 9), ("uucp", 10), ("proxy", 13), ("www-data", 33),
                                            ("backup", 34), ("sshd", 105), ("nobody", 65534)]

    static func openFlags(_ s: String?) -> UInt32 {
        let names: [String: UInt32] = ["O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_CREAT": 0o100, "O_EXCL": 0o200, "O_TRUNC": 0o1000,
                                       "O_APPEND": 0o2000, "O_CLOEXEC": 0o2000000, "O_DIRECTORY": 0o200000]
        return (s ?? "O_RDONLY").split(separator: "|").reduce(0) { $0 | (names[$1.trimmingCharacters(in: .whitespaces)] ?? 0) }
    }

    /// `..` and `.` resolved, as the sensor's kernel side reports `fd.name`.
    static func canonical(_ p: String) -> String {
        var parts: [Substring] = []
        for c in p.split(separator: "/") {
            if c == "." { continue }
            if c == ".." { _ = parts.popLast(); continue }
            parts.append(c)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func records(_ s: Spec) -> [[UInt8]] {
        var recs: [[UInt8]] = users.map { Rec.user(uid: $0.1, name: $0.0) }
        recs.append(Rec.exec(.procinfo, pid: 1, ppid: 0, comm: "systemd", exe: "/usr/lib/systemd/systemd", args: ["/sbin/init"]))
        let cgroup = s.container.map { $0 == "null" ? "/user.slice" : "/libpod_parent/libpod-" + String(repeating: "c0ffee", count: 11).prefix(64) } ?? "/user.slice"
        var parent: UInt32 = 1
        var ts: UInt64 = 1_000_000_000
        for (i, p) in s.processes.enumerated() {
            let pid = UInt32(1000 + i)
            let name = p["name"] ?? "proc\(i)"
            let exe = p["exe"] ?? "/usr/bin/" + name
            let args = (p["args"] ?? "").split(separator: " ").map(String.init)
            let uid = users.first { $0.0 == (p["user"] ?? "root") }?.1 ?? 0
            let inContainer = s.container.map { $0 != "null" } ?? false
            var exeFlags = UInt32(p["exeFlags"] ?? "0") ?? 0
            // The suite's container builder copies the exe into the container's upper layer for a non-root user
            // (its own note in drop_and_execute_new_binary_in_container.yaml), and runs containers privileged.
            if inContainer && uid != 0 { exeFlags |= 1 }
            recs.append(Rec.clone(parent: parent, child: pid, ts: ts))
            recs.append(Rec.exec(pid: pid, ppid: parent, comm: String(name.prefix(15)), exe: exe, args: [exe] + args, uid: uid,
                                 cgroup: String(cgroup), ts: ts, exeFlags: exeFlags, caps: inContainer ? 0x1ff_ffff_ffff : 0x1ff))
            parent = pid
            ts += 1_000_000
        }
        if s.before?.hasPrefix("sleep") == true { ts += 6_000_000_000 }
        func rec(_ e: some WireEncodable) -> [UInt8] {
            var w = ByteWriter()
            try! e.encode(into: &w)
            return w.bytes
        }
        func b(_ s: String) -> ArraySlice<UInt8> { ArraySlice(s.utf8) }
        for step in s.steps {
            switch step.syscall {
            case "connect":
                let addr = step.args["address"] ?? ""
                if addr.hasPrefix("[") {   // [v6]:port, loopback in these specs
                    let port = UInt16(addr.split(separator: ":").last ?? "0") ?? 0
                    let lo = ArraySlice([UInt8](repeating: 0, count: 15) + [1])
                    recs.append(rec(ConnectEvent(pid: parent, tid: parent, ts: ts, res: 0, fd: 5, family: 10, socktype: 1, sport: 45000,
                                                 dport: port, saddr: lo, daddr: lo, path: [])))
                    ts += 1000
                    continue
                }
                let parts = addr.split(separator: ":")
                let ip = parts.first.map { $0.split(separator: ".").compactMap { UInt8($0) } } ?? [127, 0, 0, 1]
                let remote = ip.count == 4 ? ip : [127, 0, 0, 1]
                let local: [UInt8] = remote[0] == 127 ? [127, 0, 0, 1] : [10, 0, 2, 15]   // the host's own address
                recs.append(Rec.connect(pid: parent, sport: 45000, dport: UInt16(parts.last ?? "0") ?? 0, daddr: remote, saddr: local))
                continue
            case "link", "linkat":
                let old = step.args["oldPath"] ?? "", new = step.args["newPath"] ?? ""
                recs.append(rec(LinkEvent(type: step.syscall == "link" ? .link : .linkat, pid: parent, tid: parent, ts: ts, res: 0,
                                          olddir: -100, newdir: -100, flags: 0, oldpath: b(canonical(old)), oldpathraw: b(old),
                                          newpath: b(canonical(new)), newpathraw: b(new))))
                ts += 1000
                continue
            case "symlink", "symlinkat":
                let link = step.args["linkPath"] ?? ""
                recs.append(rec(SymlinkEvent(type: step.syscall == "symlink" ? .symlink : .symlinkat, pid: parent, tid: parent, ts: ts, res: 0,
                                             linkdirfd: -100, target: b(step.args["target"] ?? ""), linkpath: b(canonical(link)), linkpathraw: b(link))))
                ts += 1000
                continue
            case "socket":
                let domains: [String: UInt32] = ["AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17]
                let types: [String: UInt32] = ["SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3]
                recs.append(rec(SocketEvent(pid: parent, tid: parent, ts: ts, res: 3, domain: domains[step.args["domain"] ?? ""] ?? 0,
                                            typeArg: types[step.args["type"] ?? ""] ?? 0, proto: UInt32(step.args["protocol"] ?? "0") ?? 0)))
                ts += 1000
                continue
            case "dup", "dup2", "dup3":
                // "${ cs.client.fd }": the connected socket of the clientServer resource (fd 5 in Rec.connect).
                let newfd = Int32(step.args["newFd"] ?? "") ?? 6
                let type: EventType = step.syscall == "dup" ? .dup : (step.syscall == "dup2" ? .dup2 : .dup3)
                recs.append(rec(DupEvent(type: type, pid: parent, tid: parent, ts: ts, res: Int64(newfd), oldfd: 5, newfd: newfd, flags: 0)))
                ts += 1000
                continue
            default:
                break
            }
            let path = step.args["pathname"] ?? ""
            let type: EventType = step.syscall == "open" ? .open : (step.syscall == "openat" ? .openat : .openat2)
            recs.append(Rec.open(type, pid: parent, name: canonical(path), raw: path, flags: openFlags(step.args["flags"]), ts: ts))
            ts += 1000
        }
        return recs
    }

    static func falcoRules() throws -> [CompiledRule] {
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let r = RuleLoader.load([try Peer.file("falco-rules/falco_rules.yaml")], config: cfg)
        #expect(r.report.errors.isEmpty)
        return r.activeRules
    }

    static func text(_ v: Any?) -> String? {
        switch v {
        case let s as String: return s
        case let n as NSNumber: return n.stringValue
        default: return nil
        }
    }

    @Test func evtgenSuite() throws {
        let rules = try Self.falcoRules()
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let loaded = RuleLoader.load([try Peer.file("falco-rules/falco_rules.yaml")], config: cfg).rules
        let running = Dictionary(Analyzer(rules: rules, matching: .all).ruleset.rules.map { ($0.name, $0) }) { a, _ in a }
        let specs = try Self.specs()
        var passed = 0, failed: [String] = [], unmodelled: [String: Int] = [:]
        for s in specs {
            if let why = Self.unmodelled(s, running: running, loaded: loaded) {
                unmodelled["\(s.file) (\(s.rule)): \(why)", default: 0] += 1
                continue
            }
            let a = Analyzer(rules: rules, matching: .all)
            let body = Rec.batch(Self.records(s))
            let alerts = a.process(try BatchDecoder.decode(body))
            let hit = alerts.first { alert in
                guard alert.rule == s.rule else { return false }
                let fields = (try? JSONSerialization.jsonObject(with: Data(alert.fieldsJSON.utf8))) as? [String: Any] ?? [:]
                return s.expected.allSatisfy { Self.text(fields[$0.key]) == $0.value }
            }
            if hit != nil {
                passed += 1
            } else if let c = s.container, c != "null", let rule = running[s.rule],
                      let f = ["container.privileged", "container.image", "container.mount", "container.name"].first(where: rule.expandedText.contains) {
                // The suite's containers come from a real runtime; Lanner's runtime integration (issue 5) is not here yet.
                unmodelled["\(s.file) (\(s.rule)): needs container runtime metadata (\(f)…), which arrives with issue 5", default: 0] += 1
            } else {
                failed.append("\(s.name): expected \(s.rule) with \(s.expected); got \(alerts.map { "\($0.rule) \($0.fieldsJSON)" })")
            }
        }
        print("evtgen_suite: \(passed) of \(specs.count) cases pass; \(failed.count) fail; \(specs.count - passed - failed.count) not modelled yet:")
        for (why, n) in unmodelled.sorted(by: { $0.key < $1.key }) { print("  \(n)× \(why)") }
        #expect(failed.isEmpty, "\(failed.prefix(20).joined(separator: "\n"))")
        #expect(passed > 0)
    }
}
