import Testing
import LannerRules
import LannerWire
import LannerTestSupport
@testable import LannerEnrich

/// container.* and k8s.* from CONTAINERINFO records: every field, the mount selector forms, `<NA>` before
/// the metadata arrives, removal, and the bound on the table.
@Suite struct ContainerFieldsTests {
    static let id = "1f6182ec81cae3c039208af68acf6556262726667f621b6cf3f195e3f2260b94"
    static let podUID = "8c2b3e7d-5f1a-4c9e-9d2b-0a1b2c3d4e5f"

    /// A host with one process (pid 500) inside a pod's podman container, and one on the host (pid 200).
    static func host(describe: Bool = true, privileged: Bool = false) -> HostState {
        let h = HostStateTests.family()
        var recs: [[UInt8]] = []
        if describe {
            recs.append(Rec.container(
                id: id, name: "web-1", image: "localhost:5000/team/bbox:1.36", imageID: "8da6e0e5fc45ce84d96bb1c74f7654a24aa82162c6bf28c283db80f99ba91694",
                privileged: privileged,
                mounts: [("/proc", "/host/proc", false), ("/var/run/docker.sock", "/var/run/docker.sock", true), ("/srv/data", "/data", true)],
                labels: ["io.kubernetes.pod.name": "web-1", "io.kubernetes.pod.namespace": "prod", "io.kubernetes.pod.uid": podUID,
                         "io.kubernetes.container.name": "web", "app": "web", "tier": "", "annotation.kubernetes.io/config.seen": "x"]))
        }
        recs.append(Rec.exec(pid: 500, ppid: 1, comm: "sh", exe: "/bin/busybox", args: ["sh"],
                             cgroup: "/kubepods/besteffort/pod\(podUID)/libpod-\(id)"))
        HostStateTests.apply(h, recs)
        return h
    }

    static func field(_ name: String, arg: String? = nil, pid: UInt32 = 500, _ h: HostState) -> [String] {
        HostStateTests.field(name, Rec.open(pid: pid, name: "/etc/hostname"), h, arg: arg)
    }

    @Test func metadataFields() {
        let h = Self.host()
        #expect(Self.field("container.id", h) == [String(Self.id.prefix(12))])
        #expect(Self.field("container.full_id", h) == [Self.id])
        #expect(Self.field("container.name", h) == ["web-1"])
        #expect(Self.field("container.type", h) == ["podman"])
        #expect(Self.field("container.image", h) == ["localhost:5000/team/bbox:1.36"])
        #expect(Self.field("container.image.repository", h) == ["localhost:5000/team/bbox"])
        #expect(Self.field("container.image.tag", h) == ["1.36"])
        #expect(Self.field("container.image.id", h) == ["8da6e0e5fc45ce84d96bb1c74f7654a24aa82162c6bf28c283db80f99ba91694"])
        #expect(Self.field("container.image.digest", h) == [])
        #expect(Self.field("container.privileged", h) == ["false"])
        #expect(Self.field("container.start_ts", h) == ["1796000000500000000"])
        #expect(Self.field("container.duration", h) == [String(1_796_000_000_000_001_000 - 1_796_000_000_500_000_000)])
        #expect(Self.field("container.labels", h) == ["app:web, tier"], "sorted, the kubelet's own keys and annotations left out, an empty value is the key alone")
        #expect(Self.field("container.label", arg: "app", h) == ["web"])
        #expect(Self.field("container.label", arg: "io.kubernetes.pod.namespace", h) == ["prod"])
        #expect(Self.field("container.label", arg: "nope", h) == [])
        #expect(Self.field("container.mounts", h) == ["/proc:/host/proc:ro:false:rprivate,/var/run/docker.sock:/var/run/docker.sock::true:rprivate,/srv/data:/data::true:rprivate"])
        #expect(Self.field("container.host_network", h) == ["false"])
        #expect(Self.field("container.privileged", Self.host(privileged: true)) == ["true"])
    }

    @Test func kubernetesFieldsFromTheKubeletsLabels() {
        let h = Self.host()
        #expect(Self.field("k8s.pod.name", h) == ["web-1"])
        #expect(Self.field("k8s.ns.name", h) == ["prod"])
        #expect(Self.field("k8s.pod.uid", h) == [Self.podUID])
        #expect(Self.field("k8s.pod.id", h) == [Self.podUID])
        #expect(Self.field("k8s.pod.labels", h) == ["app:web, tier"])
        #expect(Self.field("k8s.pod.label", arg: "app", h) == ["web"])
        #expect(Self.field("marathon.app.id", h) == [])
    }

    /// Falco's selector forms: an index, or a glob on the source — except container.mount.source, whose
    /// glob matches the destination. No match is no value (not "none").
    @Test(arguments: [
        ("container.mount", "0", ["/proc:/host/proc:ro:false:rprivate"]),
        ("container.mount", "/proc", ["/proc:/host/proc:ro:false:rprivate"]),
        ("container.mount", "/var/run/*", ["/var/run/docker.sock:/var/run/docker.sock::true:rprivate"]),
        ("container.mount", "3", []),
        ("container.mount.dest", "/proc*", ["/host/proc"]),
        ("container.mount.dest", "/pr?c", ["/host/proc"]),
        ("container.mount.dest", "/[ps]rv/*", ["/data"]),
        ("container.mount.dest", "/[!p]rv/data", ["/data"]),
        ("container.mount.dest", "/etc", []),
        ("container.mount.dest", "2", ["/data"]),
        ("container.mount.source", "/host/proc", ["/proc"]),
        ("container.mount.source", "/host/*", ["/proc"]),
        ("container.mount.source", "/proc", []),
        ("container.mount.source", "1", ["/var/run/docker.sock"]),
        ("container.mount.mode", "/proc", ["ro"]),
        ("container.mount.mode", "/srv/data", [""]),
        ("container.mount.rdwr", "/proc", ["false"]),
        ("container.mount.rdwr", "/srv/*", ["true"]),
        ("container.mount.propagation", "0", ["rprivate"]),
    ] as [(String, String, [String])])
    func mountSelectors(field: String, arg: String, expected: [String]) {
        #expect(Self.field(field, arg: arg, Self.host()) == expected)
    }

    /// A container the sensor has not described yet: its id is known from the cgroup, everything else is
    /// missing (rendered <NA>); the event is evaluated all the same.
    @Test func beforeTheMetadataArrivesOnlyTheIDIsKnown() {
        let h = Self.host(describe: false)
        #expect(Self.field("container.id", h) == [String(Self.id.prefix(12))])
        for f in ["container.name", "container.type", "container.image", "container.image.repository", "container.privileged",
                  "container.mounts", "container.labels", "k8s.pod.name", "k8s.ns.name", "container.start_ts"] {
            #expect(Self.field(f, h) == [], "\(f)")
        }
        #expect(Self.field("container.mount.dest", arg: "/proc*", h) == [])
        // The record arrives later: the same process sees it at its next event.
        HostStateTests.apply(h, [Rec.container(id: Self.id, name: "late", privileged: true)])
        #expect(Self.field("container.name", h) == ["late"])
        #expect(Self.field("container.privileged", h) == ["true"])
    }

    @Test func hostProcessesGetHostValues() {
        let h = Self.host()
        #expect(Self.field("container.id", pid: 200, h) == ["host"])
        #expect(Self.field("container.name", pid: 200, h) == ["host"])
        #expect(Self.field("container.type", pid: 200, h) == ["host"])
        #expect(Self.field("container.privileged", pid: 200, h) == ["false"])
        #expect(Self.field("container.image", pid: 200, h) == [])
        #expect(Self.field("container.mount.dest", arg: "/proc*", pid: 200, h) == [])
        #expect(Self.field("k8s.pod.name", pid: 200, h) == [])
    }

    @Test func aRemovedContainerIsForgottenAndARenameReplacesIt() {
        let h = Self.host()
        HostStateTests.apply(h, [Rec.container(id: Self.id, name: "renamed")])
        #expect(Self.field("container.name", h) == ["renamed"])
        #expect(Self.field("k8s.pod.name", h) == [], "the new record has no pod labels")
        HostStateTests.apply(h, [Rec.container(id: Self.id, removed: true)])
        #expect(h.containers.isEmpty)
        #expect(Self.field("container.name", h) == [])
        #expect(Self.field("container.id", h) == [String(Self.id.prefix(12))])
    }

    @Test func marathonAppIDFromTheRecord() {
        let h = Self.host(describe: false)
        HostStateTests.apply(h, [Rec.container(id: Self.id, marathonAppID: "/prod/web")])
        #expect(Self.field("marathon.app.id", h) == ["/prod/web"])
        #expect(Self.field("marathon.app.id", pid: 200, h) == [])
    }

    @Test func forkedChildrenShareTheContainer() {
        let h = Self.host()
        HostStateTests.apply(h, [Rec.clone(parent: 500, child: 501)])
        #expect(Self.field("container.name", pid: 501, h) == ["web-1"])
    }

    @Test func theTableIsBounded() {
        let h = HostState(hostname: "x", maxContainers: 3)
        let ids = (0..<5).map { String(repeating: String($0), count: 64) }
        HostStateTests.apply(h, ids.map { Rec.container(id: $0) })
        #expect(h.containers.count == 3)
        #expect(h.evictedContainers == 2)
        #expect(h.containers[ids[4]] != nil, "the newest is always kept")
    }

    @Test(arguments: [
        ("localhost/bbox:latest", "localhost/bbox", "latest", ""),
        ("docker.io/library/nginx:1.27", "docker.io/library/nginx", "1.27", ""),
        ("nginx", "nginx", "latest", ""),
        ("localhost:5000/team/app", "localhost:5000/team/app", "latest", ""),
        ("quay.io/x/y@sha256:abcd", "quay.io/x/y", "", "sha256:abcd"),
        ("quay.io/x/y:2@sha256:abcd", "quay.io/x/y", "2", "sha256:abcd"),
    ])
    func imageReferencesSplitAsFalcoSplitsThem(image: String, repo: String, tag: String, digest: String) {
        let r = ImageReference(image)
        #expect(String(decoding: r.repository, as: UTF8.self) == repo)
        #expect(String(decoding: r.tag, as: UTF8.self) == tag)
        #expect(String(decoding: r.digest, as: UTF8.self) == digest)
    }

    @Test(arguments: [
        ("/proc*", "/proc", true), ("/proc*", "/proc/sys", true), ("/proc*", "/pro", false), ("/", "/", true), ("/", "/etc", false),
        ("/root*", "/root/.ssh", true), ("*.sock", "/run/docker.sock", true), ("/a?c", "/abc", true), ("/a?c", "/ac", false),
        ("/[a-c]x", "/bx", true), ("/[a-c]x", "/dx", false), ("/[!a-c]x", "/dx", true), ("/\\*", "/*", true), ("/\\*", "/a", false),
        ("/[x", "/[x", true), ("*a*b*", "xxaxxbxx", true), ("*a*b", "xxaxxbxx", false), ("", "", true),
    ])
    func globsMatchAsFnmatchWithoutFlags(pattern: String, text: String, expected: Bool) {
        #expect(Array(text.utf8).withUnsafeBytes { Glob(pattern).matches($0) } == expected)
    }
}
