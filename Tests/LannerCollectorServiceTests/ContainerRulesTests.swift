import Foundation
import Testing
import LannerCollectorService
import LannerEnrich
import LannerRules
import LannerTestSupport
import LannerWire

/// The default ruleset's two container rules on real records: CONTAINERINFO from the sensor, then a process
/// in the container's cgroup opening a file.
@Suite struct ContainerRulesTests {
    static let id = "63ccbc5aece8369d126cf67d42aa786e13a771b776d974efebaf72502f1a3844"
    static let privileged = "File opened in a privileged container"
    static let mounted = "File opened in a container with a sensitive host path mounted"

    /// The host family, then `before`, then `sh` (pid 700) exec'd in the container, then `after`.
    static func records(before: [[UInt8]] = [], comm: String = "cat", after: [[UInt8]]) -> [[UInt8]] {
        AnalyzerTests.family + before + [
            Rec.exec(pid: 700, ppid: 1, comm: comm, exe: "/bin/busybox", args: [comm, "/etc/hostname"],
                     cgroup: "/libpod_parent/libpod-" + id),
        ] + after
    }

    static let open = Rec.open(pid: 700, name: "/etc/hostname")

    static func fields(_ a: Alert) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(a.fieldsJSON.utf8))) as? [String: Any] ?? [:]
    }

    @Test func aPrivilegedContainerOpeningAFile() throws {
        let alerts = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, name: "priv-1", privileged: true)], after: [Self.open]))
        #expect(alerts.map(\.rule) == [Self.privileged])
        let a = try #require(alerts.first)
        #expect(a.containerID == String(Self.id.prefix(12)))
        #expect(a.output.contains("file=/etc/hostname process=cat command=cat /etc/hostname user=root image=localhost/bbox:latest "
                                  + "container_id=63ccbc5aece8 container_image=localhost/bbox container_image_tag=latest container_name=priv-1"),
                "\(a.output)")
        #expect(Self.fields(a)["container.name"] as? String == "priv-1")
        #expect(Self.fields(a)["container.image.repository"] as? String == "localhost/bbox")
    }

    @Test(arguments: [
        ("/proc", "/host/proc", true), ("/proc/sys", "/host/sys", true), ("/", "/host", true), ("/etc", "/host/etc", true),
        ("/var/run/docker.sock", "/var/run/docker.sock", true), ("/run/podman/podman.sock", "/run/podman.sock", true),
        ("/root/.ssh", "/keys", true), ("/var/lib/kubelet/pki", "/pki", true),
        ("/srv/data", "/data", false), ("/etc/nginx", "/etc/nginx", false), ("/home/proc", "/x", false),
    ])
    func sensitiveHostMounts(source: String, dest: String, fires: Bool) throws {
        let alerts = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, mounts: [(source, dest, false)])], after: [Self.open]))
        #expect(alerts.map(\.rule) == (fires ? [Self.mounted] : []), "\(source)")
        if fires { #expect(alerts.first?.output.contains("mounts=\(source):\(dest):ro:false:rprivate") == true) }
    }

    /// Kubernetes-level %container.info when the container belongs to a pod.
    @Test func aPodsContainerRendersTheKubernetesDetails() throws {
        let labels = ["io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "prod", "io.kubernetes.pod.uid": "8c2b"]
        let alerts = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, name: "k8s_web_web-1", mounts: [("/etc", "/host/etc", false)],
                                                                                labels: labels)], after: [Self.open]))
        let a = try #require(alerts.first)
        #expect(a.rule == Self.mounted)
        #expect(a.output.hasSuffix("container_name=k8s_web_web-1 k8s_ns=prod k8s_pod_name=web-1)"), "\(a.output)")
        #expect(Self.fields(a)["k8s.pod.name"] as? String == "web-1")
        #expect(Self.fields(a)["k8s.ns.name"] as? String == "prod")
    }

    /// Before the sensor has described the container, its events are evaluated at once with the metadata
    /// missing: a rule that needs none still fires (with the container's id), the privileged rule cannot yet.
    @Test func eventsBeforeTheMetadataAreEvaluatedNotHeld() throws {
        let alerts = try AnalyzerTests.run(Self.records(after: [
            Rec.open(pid: 700, name: "/etc/shadow", flags: 0),
            Self.open,
            Rec.container(id: Self.id, name: "priv-1", privileged: true),
            Self.open,
        ]))
        #expect(alerts.map(\.rule) == ["Sensitive file opened for reading by untrusted program", Self.privileged])
        #expect(alerts[0].containerID == String(Self.id.prefix(12)))
        #expect(Self.fields(alerts[0])["container.id"] as? String == String(Self.id.prefix(12)))
        #expect(alerts[1].output.contains("container_name=priv-1"))
    }

    @Test func aRemovedContainerIsNoLongerPrivileged() throws {
        let alerts = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, privileged: true)],
                                                        after: [Rec.container(id: Self.id, removed: true), Self.open]))
        #expect(alerts.isEmpty)
    }

    @Test func trustedImagesAndTheRuntimesOwnSetupDoNotFire() throws {
        let trusted = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, image: "docker.io/falcosecurity/falco:0.41",
                                                                                privileged: true, mounts: [("/proc", "/host/proc", false)])],
                                                         after: [Self.open]))
        #expect(trusted.isEmpty)
        let setup = try AnalyzerTests.run(Self.records(before: [Rec.container(id: Self.id, privileged: true)], comm: "runc:[2:INIT]",
                                                       after: [Self.open]))
        #expect(setup.isEmpty)
    }

    /// A local rules file appends an image to lanner_trusted_containers.
    @Test func theTrustedListCanBeExtended() throws {
        var cfg = RuleLoader.Configuration()
        cfg.isSupported = { SyscallFields.isSupported($0) }
        let local = RuleFile(name: "local.yaml", text: """
            - list: lanner_trusted_containers
              items: [localhost/bbox]
              append: true
            """)
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("rules/lanner_rules.yaml")
        let r = RuleLoader.load([RuleFile(name: "lanner_rules.yaml", text: try String(contentsOf: url, encoding: .utf8)), local], config: cfg)
        #expect(r.report.errors.isEmpty, "\(r.report.rendered())")
        let a = Analyzer(rules: r.activeRules, matching: .all)
        let alerts = a.process(try BatchDecoder.decode(Rec.batch(Self.records(before: [Rec.container(id: Self.id, privileged: true)], after: [Self.open]))))
        #expect(alerts.isEmpty)
    }
}
