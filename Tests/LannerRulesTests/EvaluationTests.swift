import Testing
import LannerRules

/// One rule per case, one event: does the rule fire? Covers every operator, missing fields, lists,
/// macros, transformers and the any-ancestor semantics of proc.aname.
@Suite struct EvaluationTests {
    static func rule(_ condition: String, prefix: String = "") -> String {
        prefix + """
        - rule: r
          desc: d
          condition: \(condition)
          output: "x=%proc.name"
          priority: WARNING
        """
    }

    nonisolated(unsafe) static let open: [String: Any] = [
        "proc.name": "cat", "fd.name": "/etc/shadow", "fd.directory": "/etc", "fd.num": 3, "proc.pid": 42,
        "proc.cmdline": "cat /etc/shadow", "proc.aname": ["bash", "sshd", "systemd"], "proc.aname[1]": "bash",
        "proc.aname[2]": "sshd", "evt.is_open_read": true, "user.uid": 0, "fd.typechar": "f",
        "evt.arg[flags]": "O_RDONLY|O_CLOEXEC", "proc.pname": "bash", "fd.sip": IPAddress("10.1.2.3")!,
        "proc.args": ["/etc/shadow"],
    ]

    @Test(arguments: [
        ("evt.type = open", true),
        ("evt.type = openat", false),
        ("evt.type != openat", true),
        ("evt.type in (open, openat)", true),
        ("proc.name = cat", true),
        ("proc.name == cat", true),
        ("proc.name != cat", false),
        ("proc.name = CAT", false),
        ("proc.name in (ls, cat)", true),
        ("proc.name in (ls, dog)", false),
        ("proc.name in (a1, a2, a3, a4, cat, a6)", true),
        ("fd.name startswith /etc", true),
        ("fd.name startswith /usr", false),
        ("fd.name endswith shadow", true),
        ("fd.name contains etc/sh", true),
        ("proc.cmdline icontains 'CAT /ETC'", true),
        ("proc.name bcontains 6174", true),
        ("proc.name bstartswith 63", true),
        ("fd.name glob '/etc/*'", true),
        ("fd.name glob '/e?c/s[a-h]adow'", true),
        ("fd.name glob '/*'", true),
        ("fd.name glob '/usr/*'", false),
        ("fd.name iglob '/ETC/*'", true),
        ("fd.name pmatch (/etc)", true),
        ("fd.name pmatch (/et)", false),
        ("fd.name pmatch (/usr, /etc/shadow)", true),
        ("fd.name regex '/etc/s.*'", true),
        ("fd.name regex 'etc'", false),
        ("fd.num >= 0", true),
        ("fd.num > 3", false),
        ("fd.num <= 3", true),
        ("fd.num < 3", false),
        ("fd.num = 3", true),
        ("fd.num = 0x3", true),
        ("fd.num in (1, 2, 3)", true),
        ("evt.is_open_read = true", true),
        ("evt.is_open_read = false", false),
        ("proc.aname = sshd", true),
        ("proc.aname = init", false),
        ("proc.aname[2] = sshd", true),
        ("proc.aname[1] = sshd", false),
        ("proc.aname in (systemd)", true),
        ("evt.arg.flags contains O_RDONLY", true),
        ("fd.sip = 10.1.2.3", true),
        ("fd.sip = 10.1.2.4", false),
        ("fd.sip in (\"10.0.0.0/8\")", true),
        ("fd.sip in (\"192.168.0.0/16\")", false),
        ("tolower(proc.name) = cat", true),
        ("toupper(proc.name) = CAT", true),
        ("basename(fd.name) = shadow", true),
        ("len(proc.name) = 3", true),
        ("proc.name = val(proc.pname)", false),
        ("proc.pname = val(proc.aname[1])", true),
        ("proc.name startswith oneof (ca, ls)", true),
        ("proc.name startswith oneof (ls, rm)", false),
        ("proc.cmdline contains allof (cat, shadow)", true),
        ("proc.cmdline contains allof (cat, passwd)", false),
        ("proc.args in (/etc/shadow)", true),
        ("proc.args intersects (/etc/shadow, x)", true),
        ("k8s.pod.name exists", false),
        ("proc.name exists", true),
        // A field that is missing for the event makes every comparison false, != included.
        ("k8s.pod.name = x", false),
        ("k8s.pod.name != x", false),
        ("not k8s.pod.name = x", true),
        ("evt.num = 0", false),
        ("not evt.num = 0", true),
        ("(proc.name = cat or proc.name = dog) and not fd.name = /x", true),
        ("proc.name = cat and (fd.num = 1 or fd.num = 3)", true),
    ])
    func operatorTable(condition: String, fires: Bool) {
        let r = load(Self.rule(condition))
        #expect(r.report.errors.isEmpty, "\(r.report.rendered())")
        let e = MapEvent("open", Self.open)
        #expect(firing(r, e) == (fires ? ["r"] : []), "\(condition)")
    }

    @Test func listsMacrosAndNestedListsExpand() {
        let yaml = """
        - list: cat_binaries
          items: [cat]
        - list: readers
          items: [cat_binaries, less]
        - macro: is_reader
          condition: proc.name in (readers)
        - macro: sensitive
          condition: fd.name in (/etc/shadow, /etc/sudoers)
        """
        let r = load(Self.rule("evt.type = open and is_reader and sensitive", prefix: yaml + "\n"))
        #expect(r.report.errors.isEmpty)
        #expect(r.rules[0].expandedText == "(evt.type = open and proc.name in (cat, less) and fd.name in (/etc/shadow, /etc/sudoers))")
        #expect(firing(r, MapEvent("open", Self.open)) == ["r"])
    }

    @Test func emptyListMatchesNothing() {
        let r = load(Self.rule("proc.name in (nothing)", prefix: "- list: nothing\n  items: []\n"))
        #expect(r.report.errors.isEmpty)
        #expect(firing(r, MapEvent("open", Self.open)).isEmpty)
    }

    @Test func multiLineConditionsAndFoldedScalars() {
        let yaml = """
        - rule: r
          desc: d
          condition: >
            evt.type = open
            and proc.name = cat
          output: "x"
          priority: INFO
        """
        let r = load(yaml)
        #expect(r.report.errors.isEmpty)
        #expect(firing(r, MapEvent("open", Self.open)) == ["r"])
    }

    @Test func firstAndAllMatching() {
        let yaml = """
        - rule: a
          desc: d
          condition: evt.type = open
          output: a
          priority: INFO
        - rule: b
          desc: d
          condition: evt.type = open and proc.name = cat
          output: b
          priority: INFO
        """
        let r = load(yaml)
        #expect(firing(r, MapEvent("open", Self.open), mode: .all) == ["a", "b"])
        #expect(firing(r, MapEvent("open", Self.open), mode: .first) == ["a"])
    }

    @Test func minimumPriorityFiltersRules() {
        let yaml = """
        - rule: low
          desc: d
          condition: evt.type = open
          output: a
          priority: INFO
        - rule: high
          desc: d
          condition: evt.type = open
          output: b
          priority: CRITICAL
        """
        #expect(firing(load(yaml, minimum: .warning), MapEvent("open", Self.open)) == ["high"])
    }

    @Test func outputRendersFieldsAndNA() {
        let yaml = """
        - rule: r
          desc: d
          condition: evt.type = open
          output: "file=%fd.name gp=%proc.aname[2] pod=%k8s.pod.name up=%toupper(proc.name) 100%%"
          priority: INFO
        """
        let r = load(yaml)
        #expect(r.report.errors.isEmpty, "\(r.report.rendered())")
        let provider = MapProvider()
        let rs = Ruleset(r.activeRules, provider: provider)
        let scratch = EvalScratch()
        scratch.beginEvent()
        let e = MapEvent("open", Self.open)
        var hit: Int?
        rs.evaluate(e, eventType: provider.code("open"), scratch: scratch) { hit = $0 }
        let out = rs.render(rule: try! #require(hit), e, scratch: scratch)
        #expect(out.output == "file=/etc/shadow gp=sshd pod=<NA> up=CAT 100%")
        #expect(out.fields.map(\.key) == ["fd.name", "proc.aname[2]", "k8s.pod.name", "toupper(proc.name)"])
        #expect(out.fields.map(\.json) == ["\"/etc/shadow\"", "\"sshd\"", "null", "\"CAT\""])
    }

    /// `%container.info`: nothing on the host; container-level details in a container; Kubernetes-level ones
    /// too when the pod is known (Falco's -pc / -pk expansions). Its fields join output_fields.
    @Test(arguments: [
        ([:] as [String: String], "shell sh"),
        (["container.id": "host"], "shell sh"),
        (["container.id": "0123456789ab", "container.name": "web"],
         "shell sh container_id=0123456789ab container_image=<NA> container_image_tag=<NA> container_name=web"),
        (["container.id": "0123456789ab", "container.image.repository": "nginx", "container.image.tag": "1.27",
          "container.name": "web", "k8s.ns.name": "prod", "k8s.pod.name": "web-7d9"],
         "shell sh container_id=0123456789ab container_image=nginx container_image_tag=1.27 container_name=web k8s_ns=prod k8s_pod_name=web-7d9"),
    ])
    func containerInfoExpandsByContext(_ fields: [String: String], _ expected: String) throws {
        let r = load("""
        - rule: r
          desc: d
          condition: evt.type = execve
          output: "shell %proc.name %container.info"
          priority: INFO
        """)
        #expect(r.report.errors.isEmpty, "\(r.report.rendered())")
        let provider = MapProvider()
        let rs = Ruleset(r.activeRules, provider: provider)
        let scratch = EvalScratch()
        scratch.beginEvent()
        var values: [String: Any] = ["proc.name": "sh"]
        for (k, v) in fields { values[k] = v }
        let e = MapEvent("execve", values)
        var hit: Int?
        rs.evaluate(e, eventType: provider.code("execve"), scratch: scratch) { hit = $0 }
        let out = rs.render(rule: try #require(hit), e, scratch: scratch)
        #expect(out.output.trimmingCharacters(in: .whitespaces) == expected)
        if expected.contains("container_id=") { #expect(out.fields.map(\.key).contains("container.id")) }
    }

    @Test func eventTypeIndexOnlyRunsCandidates() {
        let yaml = """
        - rule: opens
          desc: d
          condition: evt.type in (open, openat) and proc.name = cat
          output: a
          priority: INFO
        - rule: execs
          desc: d
          condition: evt.type = execve
          output: b
          priority: INFO
        """
        let provider = MapProvider()
        let rs = Ruleset(load(yaml).activeRules, provider: provider)
        #expect(rs.candidateCount(eventType: provider.code("open")) == 1)
        #expect(rs.candidateCount(eventType: provider.code("execve")) == 1)
        #expect(rs.candidateCount(eventType: provider.code("connect")) == 0)
        #expect(Set(rs.interestingEventTypes.map { provider.eventTypeNames[$0] }) == ["open", "openat", "execve"])
    }

    @Test func rulesNeedingUnsuppliedFieldsDoNotRun() {
        let r = load(Self.rule("evt.type = open and not container.image.repository = x"))
        let provider = MapProvider(unsupported: ["container.image.repository"])
        let rs = Ruleset(r.activeRules, provider: provider)
        #expect(rs.rules.isEmpty)
        #expect(rs.missingFields == ["container.image.repository"])
    }
}

/// All problems at once: a rule with a bad output and a bad condition gets both errors (the output's first,
/// as Falco reports it), and is left out.
@Suite struct BothProblemsTests {
    @Test func badOutputAndBadConditionAreBothReported() {
        let r = RuleLoader.load([RuleFile(name: "r.yaml", text: """
            - rule: twice wrong
              desc: d
              condition: evt.type = open and proc.nme = x
              output: "file=%fd.nmae"
              priority: WARNING
            """)])
        #expect(r.report.errors.map(\.code) == [.compileOutput, .compileCondition])
        #expect(r.report.errors.first?.location?.line == 4)
        #expect(r.report.errors.last?.message.contains("proc.nme") == true)
        #expect(r.rules.isEmpty)
    }
}
