import Foundation
import LannerCore
import LannerStore

/// A small deterministic PRNG (xorshift64*), so every generated database holds the same alerts.
struct Rng {
    var state: UInt64
    mutating func next() -> UInt64 {
        state ^= state >> 12
        state ^= state << 25
        state ^= state >> 27
        return state &* 2_685_821_657_736_338_717
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
    mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < p }
}

/// Picks index i with probability ∝ 1 / (i + 1)^s: a few values are common, most are rare, as in real alert data.
struct Zipf {
    let cumulative: [Double]
    init(count: Int, s: Double) {
        var c: [Double] = []
        var sum = 0.0
        for i in 0..<count {
            sum += 1 / pow(Double(i + 1), s)
            c.append(sum)
        }
        cumulative = c.map { $0 / sum }
    }
    func pick(_ rng: inout Rng) -> Int {
        let u = Double(rng.next() >> 11) / Double(1 << 53)
        var lo = 0, hi = cumulative.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// The benchmark's alert population: 30 days of alerts from 60 hosts, 48 rules (skewed: a few noisy rules make
/// most alerts), 400 containers (55 % of alerts), 1–3 tags per rule, outputs with varying values, 3 % folded
/// repeats, 0.1 % arriving up to an hour late (ids out of time order), and a few rare words to search for.
enum Generator {
    static let spanNs: Int64 = 30 * 86_400_000_000_000
    /// The newest alert's time: 2026-12-01T00:00:00Z.
    static let endNs: Int64 = 1_796_083_200_000_000_000

    static let ruleNames: [(String, Priority, [String])] = {
        let base: [(String, Priority, [String])] = [
            ("Read sensitive file untrusted", .warning, ["filesystem", "mitre_credential_access"]),
            ("Terminal shell in container", .notice, ["container", "shell", "mitre_execution"]),
            ("Write below etc", .error, ["filesystem", "mitre_persistence"]),
            ("Outbound connection by a program that has no business on the network", .notice, ["network", "mitre_command_and_control"]),
            ("Shell spawned by an unexpected parent", .warning, ["shell", "mitre_execution"]),
            ("File written below a binary directory", .error, ["filesystem", "mitre_persistence"]),
            ("Write below root", .error, ["filesystem", "mitre_persistence"]),
            ("Launch privileged container", .informational, ["container", "cis", "mitre_privilege_escalation"]),
            ("Contact K8S API server from container", .notice, ["network", "k8s", "container"]),
            ("Netcat remote code execution in container", .warning, ["network", "process", "mitre_execution"]),
            ("Search private keys or passwords", .warning, ["process", "mitre_credential_access"]),
            ("Clear log activities", .warning, ["filesystem", "mitre_defense_evasion"]),
            ("Remove bulk data from disk", .warning, ["process", "mitre_impact"]),
            ("Create symlink over sensitive files", .warning, ["filesystem", "mitre_credential_access"]),
            ("Packet socket created in container", .notice, ["network", "mitre_discovery"]),
            ("Redirect STDOUT/STDIN to network connection in container", .notice, ["network", "process", "mitre_execution"]),
            ("Linux kernel module injection detected", .warning, ["process", "mitre_persistence"]),
            ("Debugfs launched in privileged container", .warning, ["container", "cis", "mitre_privilege_escalation"]),
            ("Detect release_agent file container escapes", .critical, ["container", "mitre_privilege_escalation"]),
            ("PTRACE attached to process", .warning, ["process", "mitre_privilege_escalation"]),
            ("PTRACE anti-debug attempt", .notice, ["process", "mitre_defense_evasion"]),
            ("Find AWS credentials", .warning, ["process", "aws", "mitre_credential_access"]),
            ("Execution from /dev/shm", .warning, ["mitre_execution"]),
            ("Drop and execute new binary in container", .critical, ["container", "mitre_persistence"]),
            ("Disallowed SSH connection non standard port", .notice, ["network", "mitre_execution"]),
            ("Fileless execution via memfd_create", .critical, ["process", "mitre_defense_evasion"]),
            ("Syscall event drops", .critical, []),
            ("Read environment variable from /proc files", .warning, ["process", "mitre_discovery"]),
            ("Modify Shell Configuration File", .warning, ["filesystem", "mitre_persistence"]),
            ("Schedule Cron Jobs", .notice, ["filesystem", "mitre_execution"]),
            ("Update Package Repository", .notice, ["filesystem", "mitre_execution"]),
            ("Write below binary dir", .error, ["filesystem", "mitre_persistence"]),
            ("Write below monitored dir", .error, ["filesystem", "mitre_persistence"]),
            ("Write below rpm database", .error, ["filesystem", "software_mgmt"]),
            ("Modify binary dirs", .error, ["filesystem", "mitre_persistence"]),
            ("Mkdir binary dirs", .error, ["filesystem", "mitre_persistence"]),
            ("Change thread namespace", .notice, ["process", "mitre_privilege_escalation"]),
            ("Launch Sensitive Mount Container", .informational, ["container", "cis"]),
            ("Launch Disallowed Container", .notice, ["container", "mitre_lateral_movement"]),
            ("System user interactive", .informational, ["users", "mitre_execution"]),
            ("Run shell untrusted", .debug, ["shell", "mitre_execution"]),
            ("System procs network activity", .notice, ["network", "mitre_execution"]),
            ("Unexpected UDP Traffic", .notice, ["network", "mitre_exfiltration"]),
            ("Non sudo setuid", .notice, ["users", "mitre_privilege_escalation"]),
            ("User mgmt binaries", .notice, ["host", "users", "mitre_persistence"]),
            ("Create files below dev", .error, ["filesystem", "mitre_persistence"]),
            ("Polkit Local Privilege Escalation Vulnerability (CVE-2021-4034)", .critical, ["process", "mitre_privilege_escalation"]),
            ("Java Process Class File Download", .critical, ["mitre_initial_access"]),
        ]
        return base
    }()

    static let processes = ["bash", "sh", "cat", "python3", "nginx", "curl", "java", "node", "sshd", "perl", "tar", "find",
                            "grep", "vim", "apt-get", "dpkg", "cron", "sudo", "kubectl", "runc", "dash", "busybox", "wget", "php-fpm"]
    static let files = ["/etc/shadow", "/etc/passwd", "/etc/sudoers", "/usr/bin/ls", "/root/.ssh/authorized_keys",
                        "/var/run/docker.sock", "/proc/1/environ", "/etc/crontab", "/bin/sh", "/usr/local/bin/kubectl",
                        "/etc/hosts", "/var/log/auth.log", "/dev/shm/payload", "/etc/ld.so.preload", "/home/app/.bashrc"]
    static let users = ["root", "www-data", "app", "postgres", "nobody", "ubuntu", "deploy", "jenkins"]

    static func hostName(_ i: Int) -> String {
        switch i {
        case 0..<20: return "web-" + pad2(i + 1)
        case 20..<30: return "db-" + pad2(i - 19)
        default: return "k8s-node-" + pad2(i - 29)
        }
    }

    static func pad2(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }

    static func containerID(_ i: Int) -> String {
        var r = Rng(state: 0x9E37_79B9_7F4A_7C15 &+ UInt64(i) &* 0x1000_0000_01B3)
        let hex = Array("0123456789abcdef")
        return String((0..<12).map { _ in hex[r.below(16)] })
    }

    static func containerName(_ i: Int) -> String {
        let apps = ["api", "worker", "frontend", "redis", "postgres", "nginx", "payments", "search", "auth", "billing"]
        return apps[i % apps.count] + "-" + String(i)
    }

    /// Alert `i` of `total` (its time grows with i).
    static func alert(_ i: Int, of total: Int, rng: inout Rng, rules: Zipf, hosts: Zipf, containers: Zipf) -> ImportedAlert {
        let (rule, priority, tags) = ruleNames[rules.pick(&rng)]
        let host = hostName(hosts.pick(&rng))
        var t = endNs - spanNs + Int64(Double(spanNs) * Double(i) / Double(total)) + Int64(rng.below(2_000_000_000))
        if rng.chance(0.001) { t -= Int64(rng.below(3600)) * 1_000_000_000 }   // a late batch
        var proc = processes[Zipf.process.pick(&rng)]
        if rng.chance(0.00005) { proc = "xmrig" }
        let file = files[Zipf.file.pick(&rng)]
        let user = users[rng.below(users.count)]
        let pid = 1000 + rng.below(60_000)
        let inContainer = rng.chance(0.55)
        let c = inContainer ? containers.pick(&rng) : -1
        let cid = inContainer ? containerID(c) : nil
        let cname = inContainer ? containerName(c) : nil
        let parent = processes[rng.below(processes.count)]
        let output = "\(rule) (user=\(user) process=\(proc) parent=\(parent) file=\(file) command=\(proc) -c \(file) pid=\(pid) "
            + "container_id=\(cid ?? "host") container_name=\(cname ?? "host"))"
        var fields = "{\"user.name\":" + JSON.quoted(user) + ",\"proc.name\":" + JSON.quoted(proc) + ",\"proc.pname\":" + JSON.quoted(parent)
        fields += ",\"fd.name\":" + JSON.quoted(file) + ",\"proc.pid\":\(pid),\"container.id\":" + JSON.quoted(cid ?? "host") + "}"
        var a = NewAlert(timeNs: t, host: host, sensorID: "sensor-" + host, rule: rule, priority: priority, output: output,
                         tags: tags, fieldsJSON: fields, containerID: cid, containerName: cname)
        a.source = "syscall"
        // Folded repeats: 3 % of rows stand for 2–40 alerts over up to 10 s.
        if rng.chance(0.03) { return ImportedAlert(a, count: 2 + rng.below(39), lastSeenNs: t + Int64(rng.below(10_000)) * 1_000_000) }
        return ImportedAlert(a)
    }

    static func generate(path: String, rows: Int) throws {
        let store = try AlertStore(path: path)
        try store.setCacheSize(mebibytes: 2048)
        var rng = Rng(state: 0x5EED_1A77_E400_0001)
        let rules = Zipf(count: ruleNames.count, s: 1.1)
        let hosts = Zipf(count: 60, s: 0.8)
        let containers = Zipf(count: 400, s: 1.0)
        let chunk = 200_000
        var done = 0
        let start = Date()
        while done < rows {
            let n = min(chunk, rows - done)
            var batch: [ImportedAlert] = []
            batch.reserveCapacity(n)
            for k in 0..<n { batch.append(alert(done + k, of: rows, rng: &rng, rules: rules, hosts: hosts, containers: containers)) }
            try store.bulkInsert(batch)
            done += n
            let rate = Double(done) / Date().timeIntervalSince(start)
            FileHandle.standardError.write(Data("\rgenerating: \(done) / \(rows) alerts (\(Int(rate))/s)   ".utf8))
        }
        FileHandle.standardError.write(Data("\n".utf8))
        try store.optimize()
        store.close()
    }
}

extension Zipf {
    static let process = Zipf(count: Generator.processes.count, s: 1.0)
    static let file = Zipf(count: Generator.files.count, s: 0.9)
}
