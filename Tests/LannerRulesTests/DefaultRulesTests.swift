import Foundation
import Testing
import LannerRules
import LannerTestSupport

/// rules/lanner_rules.yaml loads cleanly, alone and together with Falco's files, and fires as intended.
@Suite struct DefaultRulesTests {
    static func defaultRules() throws -> RuleFile {
        let url = Peer.repo.appendingPathComponent("rules/lanner_rules.yaml")
        return RuleFile(name: "lanner_rules.yaml", text: try String(contentsOf: url, encoding: .utf8))
    }

    @Test func loadsWithoutErrorsOrWarnings() throws {
        let r = RuleLoader.load([try Self.defaultRules()])
        #expect(r.report.diagnostics.isEmpty, "\(r.report.rendered())")
        #expect(r.rules.map(\.name) == [
            "Sensitive file opened for reading by untrusted program", "File written below a binary directory",
            "Shell spawned by an unexpected parent", "Outbound connection by a program that has no business on the network",
            "File opened in a privileged container", "File opened in a container with a sensitive host path mounted",
        ])
    }

    @Test func loadsTogetherWithFalcoFiles() throws {
        let files = try ["falco-rules/falco_rules.yaml", "falco-rules/falco-incubating_rules.yaml",
                         "falco-rules/falco-sandbox_rules.yaml"].map(Peer.file) + [try Self.defaultRules()]
        let r = RuleLoader.load(files)
        #expect(r.report.errors.isEmpty)
        #expect(r.rules.count == 93 + 6)
    }

    /// Loading Falco's files next to ours must not replace one of Falco's lists or macros (or ours).
    @Test func listAndMacroNamesDoNotCollideWithFalcos() throws {
        func names(_ text: String) -> Set<String> {
            Set(text.split(separator: "\n").compactMap { line -> String? in
                for kind in ["- macro: ", "- list: "] where line.hasPrefix(kind) {
                    return String(line.dropFirst(kind.count)).trimmingCharacters(in: .whitespaces)
                }
                return nil
            })
        }
        let ours = names(try Self.defaultRules().text)
        #expect(ours.count > 10)
        #expect(ours.allSatisfy { $0.hasPrefix("lanner_") })
        for f in ["falco-rules/falco_rules.yaml", "falco-rules/falco-incubating_rules.yaml", "falco-rules/falco-sandbox_rules.yaml"] {
            let theirs = names(try Peer.file(f).text)
            #expect(theirs.count > 10)
            #expect(ours.isDisjoint(with: theirs), "\(f) also defines \(ours.intersection(theirs).sorted())")
        }
    }

    @Test(arguments: [
        ("open", ["proc.name": "lanner-eventgen", "fd.name": "/etc/shadow", "fd.directory": "/etc", "evt.is_open_read": true,
                  "fd.typechar": "f", "fd.num": 3] as [String: any Sendable], "Sensitive file opened for reading by untrusted program"),
        ("open", ["proc.name": "sshd", "fd.name": "/etc/shadow", "fd.directory": "/etc", "evt.is_open_read": true,
                  "fd.typechar": "f", "fd.num": 3], nil),
        ("openat", ["proc.name": "lanner-eventgen", "fd.name": "/usr/bin/x", "fd.directory": "/usr/bin",
                    "evt.is_open_write": true, "fd.typechar": "f", "fd.num": 4], "File written below a binary directory"),
        ("openat", ["proc.name": "dpkg", "fd.name": "/usr/bin/x", "fd.directory": "/usr/bin",
                    "evt.is_open_write": true, "fd.typechar": "f", "fd.num": 4], nil),
        ("execve", ["proc.name": "sh", "proc.pname": "nginx", "evt.res": "SUCCESS"], "Shell spawned by an unexpected parent"),
        ("execve", ["proc.name": "sh", "proc.pname": "bash", "evt.res": "SUCCESS"], nil),
        ("execve", ["proc.name": "cat", "proc.pname": "nginx", "evt.res": "SUCCESS"], nil),
        ("connect", ["proc.name": "cat", "evt.rawres": 0, "fd.typechar": "4", "fd.sockfamily": "ip"],
         "Outbound connection by a program that has no business on the network"),
        ("connect", ["proc.name": "curl", "evt.rawres": 0, "fd.typechar": "4", "fd.sockfamily": "ip"], nil),
        ("connect", ["proc.name": "cat", "evt.rawres": -111, "evt.res": "ECONNREFUSED", "fd.typechar": "4", "fd.sockfamily": "ip"], nil),
    ])
    func firesOnlyOnTheIntendedActivity(type: String, fields: [String: any Sendable], expected: String?) throws {
        let r = RuleLoader.load([try Self.defaultRules()])
        let fired = firing(r, MapEvent(type, fields))
        #expect(fired == (expected.map { [$0] } ?? []))
    }
}
