import Foundation
import Testing

/// `fd.*ip.name` through the real `lanner-collector` binary: `rules test` looks the rule's names up once and
/// says what it got, `rules fields` lists the name fields as supplied. Only `localhost` (from the hosts file)
/// is looked up, so no DNS query leaves the machine.
@Suite struct DomainNameCLITests {
    @Test func rulesTestLooksLocalhostUpOnceAndSaysSo() throws {
        let d = try E2E.tempDir("dns-cli")
        try """
            - rule: Connect to localhost by name
              desc: test
              condition: evt.type = connect and fd.sip.name = localhost
              output: "connect to %fd.sip.name (%fd.sip:%fd.sport) by %proc.name"
              priority: NOTICE
            """.write(toFile: d + "/rules.yaml", atomically: true, encoding: .utf8)
        try """
            {"type":"procinfo","pid":90,"fields":{"comm":"curl","exe":"/usr/bin/curl","args":["curl"]}}
            {"type":"connect","pid":90,"ts":100,"fields":{"res":0,"fd":5,"family":2,"socktype":1,"sport":40000,"dport":8080,"saddr":"127.0.0.1","daddr":"127.0.0.1"}}
            {"type":"connect","pid":90,"ts":200,"fields":{"res":0,"fd":5,"family":2,"socktype":1,"sport":40001,"dport":8080,"saddr":"127.0.0.1","daddr":"127.0.0.2"}}
            """.write(toFile: d + "/events.jsonl", atomically: true, encoding: .utf8)
        let r = try CommandLineErrorTests.run("lanner-collector", ["rules", "test", d + "/rules.yaml", d + "/events.jsonl"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == """
            event 1 connect pid=90 (curl): Connect to localhost by name [Notice] connect to localhost (127.0.0.1:8080) by curl
            2 events, 1 alerts: Connect to localhost by name ×1

            """, "\(r.stdout)")
        #expect(r.stderr.hasPrefix("lanner-collector: fd.*ip.name: looked up 1 domain name once before evaluating (waited at most 5 s; "
                                   + "no refresh afterwards): 1 with addresses, 0 without\n  localhost: "), "\(r.stderr)")
        #expect(r.stderr.contains("127.0.0.1"))
    }

    @Test func rulesFieldsListsTheNameFieldsAsSupplied() throws {
        let r = try CommandLineErrorTests.run("lanner-collector", ["rules", "fields", "--class", "fd"])
        #expect(r.status == 0)
        for name in ["fd.sip.name", "fd.cip.name", "fd.lip.name", "fd.rip.name"] {
            let line = r.stdout.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map(String.init) ?? ""
            #expect(line.contains(" yes ") && line.contains("resolved in the background"), "\(line)")
        }
    }
}
