import Foundation
import Glibc
import LannerStore
import Testing

/// Real containers (podman, runc, --network=none) watched by a real sensor and collector: the sensor reads
/// `podman system service`'s Docker-compatible socket, the collector stores the alerts raised from inside a
/// privileged container, one with the host's /proc mounted, and one labelled and parented as a Kubernetes pod.
/// Everything this test starts (containers, the API service, sensor, collector) is removed or stopped at the end.
extension RealSystem {
@Suite(.serialized) struct ContainerTests {
    static let podmanBinary: String? = ["/usr/bin/podman", "/usr/local/bin/podman"].first { access($0, X_OK) == 0 }
    static var enabled: Bool { (getuid() == 0 && podmanBinary != nil) || E2E.isCI }
    static let image = "localhost/lanner-eventgen:latest"
    static let podUID = "5e8f4c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"

    /// Every container and Kubernetes field on one alert, for the assertions below.
    static let probeRule = """
        - rule: e2e container probe
          desc: every container field, for the end-to-end test
          condition: evt.type in (open, openat) and container.id != host and proc.name = cat and fd.name = /etc/hostname
          output: >
            probe id=%container.id full=%container.full_id name=%container.name image=%container.image
            repo=%container.image.repository tag=%container.image.tag imageid=%container.image.id type=%container.type
            priv=%container.privileged mounts=%container.mounts procdest=%container.mount.dest[/proc]
            hostproc=%container.mount.source[/host/proc] rdwr=%container.mount.rdwr[/proc] mount0=%container.mount[0]
            start=%container.start_ts labels=%container.labels app=%container.label.app pod=%k8s.pod.name
            ns=%k8s.ns.name uid=%k8s.pod.uid podlabels=%k8s.pod.labels %container.info
          priority: INFO
        """

    /// Runs a program to completion with its output in a file (never a pipe: `podman run -d` leaves conmon
    /// holding the descriptors it was given for the container's whole life).
    @discardableResult
    static func run(_ path: String, _ args: [String]) throws -> (status: Int32, output: String) {
        var template = Array("/tmp/lanner-e2e-out-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        try #require(fd >= 0)
        let outPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { close(fd); unlink(outPath) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, fd, 1)
        posix_spawn_file_actions_adddup2(&actions, fd, 2)
        var pid: pid_t = 0
        var cargs: [UnsafeMutablePointer<CChar>?] = ([path] + args).map { strdup($0) } + [nil]
        defer { for a in cargs { free(a) } }
        let rc = posix_spawn(&pid, path, &actions, nil, &cargs, environ)
        try #require(rc == 0, "spawn \(path): \(String(cString: strerror(rc)))")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        return ((status >> 8) & 0xff, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "")
    }

    /// `podman ARGS`, which must succeed; its trimmed output.
    @discardableResult
    static func podman(_ args: [String]) throws -> String {
        let p = try #require(podmanBinary, "podman is not installed: run scripts/install-deps.sh")
        let r = try run(p, args)
        try #require(r.status == 0, "podman \(args.joined(separator: " ")) failed (\(r.status)): \(r.output)")
        return r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Removes this test's containers, also those a killed earlier run left behind.
    static func removeContainers() {
        guard let p = podmanBinary, let list = try? run(p, ["ps", "-a", "--filter", "name=lanner-e2e-", "--format", "{{.Names}}"]) else { return }
        let names = list.output.split(separator: "\n").map(String.init).filter { $0.hasPrefix("lanner-e2e-") }
        if !names.isEmpty { _ = try? run(p, ["rm", "-f", "-t", "0"] + names) }
    }

    static func fields(_ a: StoredAlert) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8))) as? [String: Any] ?? [:]
    }

    @Test(.enabled(if: ContainerTests.enabled, "needs root and podman (scripts/install-deps.sh); under CI=true it always runs"),
          .timeLimit(.minutes(4)))
    func containerAndKubernetesFieldsOnAlertsRaisedInsideRealContainers() throws {
        try #require(getuid() == 0, "eBPF and podman need root; CI must run the tests as root")
        let podmanPath = try #require(Self.podmanBinary, "podman is not installed: run scripts/install-deps.sh")
        Self.removeContainers()
        defer { Self.removeContainers() }
        let dir = try E2E.tempDir("containers")
        let tag = String(UUID().uuidString.prefix(6)).lowercased()
        let socket = dir + "/podman.sock"

        // The runtime's Docker-compatible API, on a socket of our own.
        let service = try Child(podmanPath, ["system", "service", "--time=0", "unix://" + socket], log: dir + "/podman-service.log")
        defer { service.stop() }
        let up = Date().addingTimeInterval(15)
        while access(socket, F_OK) != 0 && Date() < up && service.process.isRunning { Thread.sleep(forTimeInterval: 0.05) }
        try #require(access(socket, F_OK) == 0, "podman system service did not create \(socket):\n\(service.log)")

        try "tok-\(tag)".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        try Self.probeRule.write(toFile: dir + "/probe.yaml", atomically: true, encoding: .utf8)
        let collector = try Child(try E2E.binary("lanner-collector"), [
            "serve", "--listen", "127.0.0.1:0", "--db", dir + "/lanner.db", "--rules", E2E.repo.appendingPathComponent("rules").path,
            "--rules", dir + "/probe.yaml", "--token-file", dir + "/token",
        ], log: dir + "/collector.log")
        defer { collector.stop() }
        let line = try collector.waitFor("listening on", timeout: 30)
        let port = try #require(line.firstRange(of: #/127\.0\.0\.1:(\d+)/#).flatMap { Int(line[$0].split(separator: ":")[1]) })
        let host = "e2e-containers-\(tag)"
        let sensor = try Child(try E2E.binary("lanner-sensor"), [
            "--collector", "http://127.0.0.1:\(port)", "--token-file", dir + "/token", "--state-dir", dir + "/sensor",
            "--hostname", host, "--flush-ms", "50", "--container-socket", socket, "-v",
        ], log: dir + "/sensor.log")
        defer { sensor.stop() }
        try sensor.waitFor("container runtime: podman", timeout: 60)
        try sensor.waitFor("eBPF programs attached", timeout: 60)

        // lanner-eventgen's container actions build the image (first time) and raise the two default rules.
        let eventgen = try Self.run(try E2E.binary("lanner-eventgen"), ["containers"])
        #expect(eventgen.status == 0, "lanner-eventgen containers failed:\n\(eventgen.output)")

        // Three containers of our own.
        let priv = "lanner-e2e-priv-\(tag)", proc = "lanner-e2e-proc-\(tag)", pod = "lanner-e2e-pod-\(tag)"
        let base = ["run", "-d", "--network=none"]
        let privID = try Self.podman(base + ["--name", priv, "--privileged", Self.image, "sleep", "120"])
        let procID = try Self.podman(base + ["--name", proc, "-v", "/proc:/host/proc:ro", Self.image, "sleep", "120"])
        let podID = try Self.podman(base + ["--name", pod, "--cgroup-parent", "/kubepods/besteffort/pod" + Self.podUID,
                                            "--label", "io.kubernetes.pod.name=web-\(tag)", "--label", "io.kubernetes.pod.namespace=lanner-e2e",
                                            "--label", "io.kubernetes.pod.uid=" + Self.podUID, "--label", "io.kubernetes.container.name=web",
                                            "--label", "app=web", "-v", "/etc:/host/etc:ro", Self.image, "sleep", "120"])
        for id in [privID, procID, podID] {
            #expect(id.count == 64, "podman run -d prints the full id: \(id)")
            try sensor.waitFor("container started: \(id.prefix(12))", timeout: 20)
        }
        let cgroup = try String(contentsOfFile: "/proc/\(try Self.podman(["inspect", "-f", "{{.State.Pid}}", pod]))/cgroup", encoding: .utf8)
        #expect(cgroup.contains("/kubepods/besteffort/pod\(Self.podUID)/libpod-\(podID)"), "the pod container's cgroup: \(cgroup)")
        let before = UInt64(Date().timeIntervalSince1970 * 1e9)
        for name in [priv, proc, pod] { try Self.podman(["exec", name, "cat", "/etc/hostname"]) }

        let db = dir + "/lanner.db"
        let deadline = Date().addingTimeInterval(45)
        var alerts: [StoredAlert] = []
        func probe(_ id: String) -> [String: Any]? {
            alerts.first { $0.rule == "e2e container probe" && Self.fields($0)["container.full_id"] as? String == id }.map(Self.fields)
        }
        func fired(_ rule: String, in name: String) -> StoredAlert? {
            alerts.first { $0.rule == rule && Self.fields($0)["container.name"] as? String == name }
        }
        let privileged = "File opened in a privileged container", mounted = "File opened in a container with a sensitive host path mounted"
        while Date() < deadline {
            if let store = try? AlertStore(path: db, readOnly: true) {
                alerts = ((try? store.query(AlertQuery(host: host, limit: 0))) ?? [])
            }
            if [privID, procID, podID].allSatisfy({ probe($0) != nil }), fired(privileged, in: priv) != nil, fired(mounted, in: proc) != nil,
               fired(mounted, in: pod) != nil, alerts.contains(where: { ($0.output).contains("lanner-eventgen-priv-") }),
               alerts.contains(where: { ($0.output).contains("lanner-eventgen-procmount-") }) {
                break
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        let context = "alerts: \(alerts.map { "\($0.rule): \($0.output)" }.joined(separator: "\n"))\nsensor log:\n\(sensor.log)"

        // lanner-eventgen's two actions.
        #expect(alerts.contains { $0.rule == privileged && $0.output.contains("container_name=lanner-eventgen-priv-") }, "\(context)")
        #expect(alerts.contains { $0.rule == mounted && $0.output.contains("container_name=lanner-eventgen-procmount-") }, "\(context)")

        // The privileged container.
        let p = try #require(probe(privID), "\(context)")
        #expect(p["container.id"] as? String == String(privID.prefix(12)))
        #expect(p["container.name"] as? String == priv)
        #expect(p["container.image"] as? String == Self.image)
        #expect(p["container.image.repository"] as? String == "localhost/lanner-eventgen")
        #expect(p["container.image.tag"] as? String == "latest")
        #expect((p["container.image.id"] as? String)?.count == 64)
        #expect(p["container.type"] as? String == "podman")
        #expect(p["container.privileged"] as? Bool == true)
        #expect(p["container.mounts"] as? String == "")
        #expect(p["container.mount.dest[/proc]"] is NSNull)
        #expect(p["k8s.pod.name"] is NSNull)
        let start = try #require(p["container.start_ts"] as? NSNumber).uint64Value
        #expect(start > before - 120_000_000_000 && start < before, "start_ts \(start) is the container's start, before the exec at \(before)")
        let privAlert = try #require(fired(privileged, in: priv), "\(context)")
        #expect(privAlert.containerID == String(privID.prefix(12)))
        #expect(privAlert.containerName == priv, "the stored row carries the name, so alerts list --container NAME finds it")
        let byName = try runProgram(try E2E.binary("lanner-collector"), ["alerts", "list", "--db", db, "--container", priv, "--json", "--limit", "0"])
        #expect(byName.status == 0 && byName.output.contains("\"rule\":\"\(privileged)\""), "\(byName.output)")
        #expect(privAlert.output.contains("container_id=\(privID.prefix(12)) container_image=localhost/lanner-eventgen container_image_tag=latest container_name=\(priv)"))

        // The one with the host's /proc.
        let m = try #require(probe(procID), "\(context)")
        #expect(m["container.privileged"] as? Bool == false)
        #expect(m["container.mounts"] as? String == "/proc:/host/proc::false:rprivate")
        #expect(m["container.mount.dest[/proc]"] as? String == "/host/proc")
        #expect(m["container.mount.source[/host/proc]"] as? String == "/proc")
        #expect(m["container.mount.rdwr[/proc]"] as? String == "false")
        #expect(m["container.mount[0]"] as? String == "/proc:/host/proc::false:rprivate")
        #expect(fired(mounted, in: proc)?.output.contains("mounts=/proc:/host/proc::false:rprivate") == true, "\(context)")
        #expect(fired(privileged, in: proc) == nil)

        // The pod's container: Kubernetes fields from the kubelet's labels, Kubernetes-level %container.info.
        let k = try #require(probe(podID), "\(context)")
        #expect(k["k8s.pod.name"] as? String == "web-\(tag)")
        #expect(k["k8s.ns.name"] as? String == "lanner-e2e")
        #expect(k["k8s.pod.uid"] as? String == Self.podUID)
        #expect(k["k8s.pod.labels"] as? String == "app:web")
        #expect(k["container.labels"] as? String == "app:web")
        #expect(k["container.label.app"] as? String == "web")
        let podAlert = try #require(fired(mounted, in: pod), "\(context)")
        #expect(podAlert.output.hasSuffix("container_name=\(pod) k8s_ns=lanner-e2e k8s_pod_name=web-\(tag))"), "\(podAlert.output)")

        // A removal reaches the sensor; a missing socket or a dead runtime was never an error loop.
        try Self.podman(["rm", "-f", "-t", "0", priv])
        try sensor.waitFor("container removed: \(privID.prefix(12))", timeout: 20)
        #expect(sensor.log.components(separatedBy: "container runtime: podman").count == 2, "one connection, said once:\n\(sensor.log)")
        #expect(sensor.stop() == 0)
        #expect(sensor.log.contains("dropped=0"))
    }
}
}
