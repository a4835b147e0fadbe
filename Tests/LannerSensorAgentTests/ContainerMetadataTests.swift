import Foundation
import Glibc
import LannerWire
import Testing
@testable import LannerSensorAgent

/// The runtime's JSON as podman 4.3.1's Docker-compatible service wrote it on this kind of machine
/// (Tests/Fixtures/containers/, recorded from the three containers the end-to-end test runs), turned into
/// CONTAINERINFO records.
@Suite struct ContainerMetadataTests {
    static func fixture(_ name: String) throws -> [UInt8] {
        let url = URL(fileURLWithPath: SensorEnv.repo).appendingPathComponent("Tests/Fixtures/containers/" + name)
        return Array(try Data(contentsOf: url))
    }

    @Test func privilegedContainer() throws {
        let m = try ContainerJSON.inspect(try Self.fixture("podman-inspect-privileged.json"), runtime: "podman")
        #expect(m.id == "63ccbc5aece8369d126cf67d42aa786e13a771b776d974efebaf72502f1a3844")
        #expect(m.shortID == "63ccbc5aece8")
        #expect(m.name == "wtc-priv", "the API's leading slash is dropped")
        #expect(m.image == "localhost/lanner-test-bbox:latest", "Config.Image, not the sha256 id")
        #expect(m.imageID == "8da6e0e5fc45ce84d96bb1c74f7654a24aa82162c6bf28c283db80f99ba91694")
        #expect(m.privileged)
        #expect(!m.hostNetwork && !m.hostPID && !m.hostIPC)
        #expect(m.mounts.isEmpty)
        #expect(m.labels.isEmpty)
        #expect(m.running && m.pid > 0)
        #expect(m.startedUnixNs > 1_700_000_000_000_000_000)
    }

    @Test func hostProcMount() throws {
        let m = try ContainerJSON.inspect(try Self.fixture("podman-inspect-proc-mount.json"), runtime: "podman")
        #expect(m.name == "wtc-proc")
        #expect(!m.privileged)
        #expect(m.mounts == [ContainerMetadata.Mount(source: "/proc", destination: "/host/proc", mode: "", rw: false, propagation: "rprivate")])
    }

    @Test func kubernetesLabelledContainer() throws {
        let m = try ContainerJSON.inspect(try Self.fixture("podman-inspect-k8s-pod.json"), runtime: "podman")
        #expect(m.labels["io.kubernetes.pod.name"] == "web-1")
        #expect(m.labels["io.kubernetes.pod.namespace"] == "prod")
        #expect(m.labels["io.kubernetes.pod.uid"] == "8c2b3e7d-5f1a-4c9e-9d2b-0a1b2c3d4e5f")
        #expect(m.labels["app"] == "web")
        #expect(m.marathonAppID == "")
        // The record carries exactly these values, labels sorted by key.
        let (bytes, leftOut) = m.record(ts: 42)
        #expect(leftOut == 0)
        let batch = try BatchDecoder.decode(try Self.batch([bytes]))
        let e = try ContainerinfoEvent(batch.records[0])
        #expect(e.ts == 42 && e.flags == 0)
        #expect(String(decoding: e.id, as: UTF8.self) == m.id)
        #expect(String(decoding: e.name, as: UTF8.self) == "wtc-k8s")
        #expect(String(decoding: e.runtime, as: UTF8.self) == "podman")
        #expect(e.startedNs == m.startedUnixNs)
        let items = e.labels.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        #expect(items == ["app", "web", "io.kubernetes.container.name", "web", "io.kubernetes.pod.name", "web-1",
                          "io.kubernetes.pod.namespace", "prod", "io.kubernetes.pod.uid", "8c2b3e7d-5f1a-4c9e-9d2b-0a1b2c3d4e5f"])
    }

    /// MARATHON_APP_ID from the environment (nothing else of it is kept), or from a label of that name.
    @Test func marathonAppID() throws {
        let text = String(decoding: try Self.fixture("podman-inspect-privileged.json"), as: UTF8.self)
            .replacingOccurrences(of: #""Env":["#, with: #""Env":["MARATHON_APP_ID=/prod/web","SECRET=x","#)
        let m = try ContainerJSON.inspect(Array(text.utf8), runtime: "podman")
        #expect(m.marathonAppID == "/prod/web")
        let e = try ContainerinfoEvent(try BatchDecoder.decode(try Self.batch([m.record(ts: 1).bytes])).records[0])
        #expect(String(decoding: e.marathonAppId, as: UTF8.self) == "/prod/web")
        #expect(!m.record(ts: 1).bytes.contains(Array("SECRET".utf8)), "no other environment variable leaves the host")
    }

    @Test func flagsAndMountsInTheRecord() throws {
        var m = try ContainerJSON.inspect(try Self.fixture("podman-inspect-proc-mount.json"), runtime: "podman")
        m.privileged = true
        m.hostNetwork = true
        let e = try ContainerinfoEvent(try BatchDecoder.decode(try Self.batch([m.record(ts: 1).bytes])).records[0])
        #expect(e.flags == 1 | 4)
        #expect(e.mounts.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
                == ["/proc", "/host/proc", "", "false", "rprivate", ""])
        let removal = try ContainerinfoEvent(try BatchDecoder.decode(try Self.batch([ContainerMetadata.removalRecord(id: m.id, ts: 2)])).records[0])
        #expect(removal.flags == 16 && String(decoding: removal.id, as: UTF8.self) == m.id && removal.name.isEmpty)
    }

    /// Labels past the record's budget are left out (and counted), never a record over 64 KiB.
    @Test func hugeLabelSetsStillFitOneRecord() throws {
        var m = try ContainerJSON.inspect(try Self.fixture("podman-inspect-k8s-pod.json"), runtime: "podman")
        for i in 0..<2000 { m.labels["annotation.example.com/key-\(i)"] = String(repeating: "v", count: 40) }
        let (bytes, leftOut) = m.record(ts: 1)
        #expect(bytes.count <= 65_535)
        #expect(leftOut > 0 && leftOut < 2000)
        #expect(try BatchDecoder.decode(try Self.batch([bytes])).records.count == 1)
    }

    @Test func listEventsAndVersion() throws {
        let ids = try ContainerJSON.list(try Self.fixture("podman-list.json"))
        #expect(Set(ids) == ["a622f227173040c54ec7c2ee7b1c8e140b3b62e8f271d69e6b5c4ef1d3e50cfd",
                             "7a85a1e8abd64bf06c0cb6b2fb9a82291e826950e46f3667a1fc3ea38ee3598c",
                             "63ccbc5aece8369d126cf67d42aa786e13a771b776d974efebaf72502f1a3844"])
        let lines = try Self.fixture("podman-events.jsonl").split(separator: 0x0a).map(Array.init)
        let events = try lines.compactMap { try ContainerJSON.event($0) }
        #expect(events.map(\.action) == ["create", "init", "start", "attach", "die", "remove"], "the image event is not a container's")
        #expect(Set(events.map(\.id)) == ["1398a7c272996c1c32d9c4e314a0e3b34da3f68d2ac613cc80e2e327ab3fce1f"])
        let v = try ContainerJSON.version(try Self.fixture("podman-version.json"))
        #expect(v.version == "4.3.1" && v.api == "1.41")
    }

    @Test func badJSONSaysWhatIsWrong() throws {
        #expect(throws: ContainerJSONError(message: "container inspect reply: Id is missing")) {
            try ContainerJSON.inspect(Array(#"{"Name":"/x"}"#.utf8), runtime: "podman")
        }
        #expect(throws: ContainerJSONError(message: "container inspect reply: HostConfig.Privileged is not a Bool")) {
            try ContainerJSON.inspect(Array(#"{"Id":"\#(String(repeating: "a", count: 64))","HostConfig":{"Privileged":"yes"}}"#.utf8), runtime: "podman")
        }
        #expect(throws: ContainerJSONError(message: "container inspect reply: Id 'abc' is not 64 lowercase hex digits")) {
            try ContainerJSON.inspect(Array(#"{"Id":"abc"}"#.utf8), runtime: "podman")
        }
        let garbage = #expect(throws: ContainerJSONError.self) { try ContainerJSON.list(Array("[{".utf8)) }
        #expect(garbage?.message.hasPrefix("container list reply: not valid JSON") == true)
    }

    @Test(arguments: [
        ("2026-12-04T07:19:58.948294363Z", UInt64(1_796_368_798_948_294_363)),
        ("2026-12-04T07:19:58Z", UInt64(1_796_368_798_000_000_000)),
        ("2026-12-04T08:19:58.5+01:00", UInt64(1_796_368_798_500_000_000)),
        ("2026-12-04T07:19:58.9482943631234Z", UInt64(1_796_368_798_948_294_363)),
        ("1970-01-01T00:00:00Z", UInt64(0)),
    ])
    func timestamps(text: String, ns: UInt64) {
        #expect(RFC3339.nanoseconds(text) == ns)
    }

    @Test(arguments: ["0001-01-01T00:00:00Z", "", "2026-12-04", "2026-13-04T07:19:58Z", "2026-12-04T07:19:58", "2026-12-04T07:19:58.Z",
                      "2026-12-04T07:19:58Zjunk"])
    func notTimestamps(text: String) {
        #expect(RFC3339.nanoseconds(text) == nil)
    }

    @Test func responseHeads() throws {
        let ok = Array("HTTP/1.0 200 OK\r\nServer: Libpod/4.3.1 (linux)\r\nContent-Length: 2\r\n\r\n{}".utf8)
        let (r, start) = try #require(try RuntimeClient.head(ok, path: "/s", request: "/version"))
        #expect(r.status == 200 && r.header("server") == "Libpod/4.3.1 (linux)" && start == ok.count - 2)
        #expect(try RuntimeClient.head(Array("HTTP/1.0 200 OK\r\nServer: x\r\n".utf8), path: "/s", request: "/v") == nil, "not complete yet")
        #expect(throws: RuntimeError.malformed(path: "/s", request: "/v", reason: "a transfer coding in the reply to an HTTP/1.0 request")) {
            try RuntimeClient.head(Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".utf8), path: "/s", request: "/v")
        }
        #expect(throws: RuntimeError.malformed(path: "/s", request: "/v", reason: "status line 'SSH-2.0-OpenSSH_9.2'")) {
            try RuntimeClient.head(Array("SSH-2.0-OpenSSH_9.2\r\n\r\n".utf8), path: "/s", request: "/v")
        }
        #expect(RuntimeClient.errorMessage(Array(#"{"cause":"no such container","message":"no container with name or ID \"nope\" found: no such container","response":404}"#.utf8))
                == #"no container with name or ID "nope" found: no such container"#)
    }

    /// No socket: one line, said once, however often the sensor looks again; the same for a socket nobody serves.
    @Test func aMissingOrDeadSocketIsOneNoteNotALoop() throws {
        let lines = Lines()
        let w = ContainerWatcher(setting: .socket("/nonexistent/lanner-test.sock"), retryInterval: 0.05, log: { lines.add($0) })
        w.start(wait: 1)
        Thread.sleep(forTimeInterval: 0.6)
        w.stop()
        #expect(lines.all.count == 1, "\(lines.all)")
        #expect(lines.all.first?.contains("no container runtime socket at /nonexistent/lanner-test.sock") == true)

        // A socket file whose server is gone.
        let path = NSTemporaryDirectory() + "lanner-dead-\(getpid()).sock"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &addr.sun_path) { p in for (i, b) in path.utf8.enumerated() { p[i] = b } }
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
        close(fd)
        defer { unlink(path) }
        let dead = Lines()
        let w2 = ContainerWatcher(setting: .socket(path), retryInterval: 0.05, log: { dead.add($0) })
        w2.start(wait: 1)
        Thread.sleep(forTimeInterval: 0.6)
        w2.stop()
        #expect(dead.all.count == 1, "\(dead.all)")
        #expect(dead.all.first?.contains("Connection refused (the socket exists but nothing serves it") == true, "\(dead.all)")
        #expect(w2.takePending().isEmpty)
    }

    static func batch(_ records: [[UInt8]]) throws -> [UInt8] {
        var enc = BatchEncoder()
        for r in records { try enc.append(record: r) }
        return try enc.finish(header: BatchHeader(sequence: 1, bootTimeUnixNs: 0, sensorID: ID128(hex: "11111111111111111111111111111111")!,
                                                  bootID: ID128(hex: "22222222222222222222222222222222")!, hostname: "h", sensorVersion: "t"))
    }
}

final class Lines: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func add(_ s: String) { lock.lock(); lines.append(s); lock.unlock() }
    var all: [String] { lock.lock(); defer { lock.unlock() }; return lines }
}
