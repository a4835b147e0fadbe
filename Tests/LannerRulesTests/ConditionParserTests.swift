import Testing
@testable import LannerRules

/// Conditions as written → Falco's canonical printing (or the parse error Falco gives).
@Suite struct ConditionParserTests {
    @Test(arguments: [
        ("evt.type=open", "evt.type = open"),
        ("evt.type = open and proc.name=cat", "(evt.type = open and proc.name = cat)"),
        ("a or b and c", "(a or (b and c))"),
        ("not a and b", "(not a and b)"),
        ("not not a", "a"),
        ("not(a or b)", "not (a or b)"),
        ("(a)", "a"),
        ("a and(b or c)", "(a and (b or c))"),
        ("proc.name in (bash, \"sh\", 'zsh')", "proc.name in (bash, sh, zsh)"),
        ("proc.name in ()", "proc.name in ()"),
        ("proc.name in my_list", "proc.name in my_list"),
        ("fd.name startswith /etc", "fd.name startswith /etc"),
        ("fd.name glob '/home/*/.ssh/*'", "fd.name glob /home/*/.ssh/*"),
        ("proc.cmdline contains \"curl 127.0.0.1\"", "proc.cmdline contains \"curl 127.0.0.1\""),
        ("proc.aname[2]=bash", "proc.aname[2] = bash"),
        ("evt.arg.flags contains O_CREAT", "evt.arg.flags contains O_CREAT"),
        ("evt.arg[1] = x", "evt.arg[1] = x"),
        ("fd.num>=0", "fd.num >= 0"),
        ("fd.num=-1", "fd.num = -1"),
        ("evt.rawres < 0x10", "evt.rawres < 0x10"),
        ("k8s.pod.name exists", "k8s.pod.name exists"),
        ("tolower(proc.name) = bash", "tolower(proc.name) = bash"),
        ("toupper( tolower(proc.name) ) = BASH", "toupper(tolower(proc.name)) = BASH"),
        ("proc.name = val(proc.pname)", "proc.name = val(proc.pname)"),
        ("proc.name = toupper(proc.pname)", "proc.name = toupper(proc.pname)"),
        ("proc.name startswith oneof (sshd, sudo)", "proc.name startswith oneof (sshd, sudo)"),
        ("proc.cmdline contains allof (curl, bash)", "proc.cmdline contains allof (curl, bash)"),
        ("fd.name pmatch (/etc, /usr/bin)", "fd.name pmatch (/etc, /usr/bin)"),
        ("proc.name regex 'ba.h'", "proc.name regex ba.h"),
        ("len(proc.args) > 3", "len(proc.args) > 3"),
        ("fd.name = \"a\\tb\"", "fd.name = \"a\\tb\""),
        ("a\n  and\n  b", "(a and b)"),
        ("order and oracle", "(order and oracle)"),
    ])
    func printsCanonically(input: String, expected: String) throws {
        let e = try ConditionParser.parse(input)
        #expect(ConditionPrinter.string(e) == expected)
    }

    @Test(arguments: [
        ("", "filter input string is empty", 0),
        ("evt.type=open foo", "unexpected token after 'open', expecting 'or', 'and'", 14),
        ("evt.type=execve some_macro", "unexpected token after 'execve', expecting 'or', 'and'", 16),
        ("(a and b", "expected a ')' token", 8),
        ("proc.name", "expected a valid check operator", 9),
        ("proc.name in (a, ", "expected a string value", 17),
        ("proc.name = ", "expected a string value or a field with a valid transformer", 12),
        ("fd.num > abc", "expected a number value", 9),
        ("a andb", "unexpected token after 'a'", 2),
        ("proc.aname[2 = x", "expected a ']' token", 12),
        ("tolower(proc.name = x", "expected a ')' token closing the transformer", 18),
        ("3 = 4", "expected a '(' token, a field check, or an identifier", 0),
        ("proc.name = \"unterminated", "expected a string value", 12),
    ])
    func errorsCarryFalcoMessagesAndOffsets(input: String, message: String, offset: Int) {
        do {
            _ = try ConditionParser.parse(input)
            Issue.record("expected a parse error for \(input)")
        } catch {
            #expect(error.message.contains(message), "got: \(error.message)")
            #expect(error.offset == offset, "\(input): offset \(error.offset)")
        }
    }

    @Test func deepNestingIsBoundedNotACrash() {
        let deep = String(repeating: "(", count: 5000) + "a" + String(repeating: ")", count: 5000)
        #expect(throws: ConditionParser.Failure.self) { try ConditionParser.parse(deep) }
        let ok = String(repeating: "(", count: 50) + "a" + String(repeating: ")", count: 50)
        #expect(throws: Never.self) { try ConditionParser.parse(ok) }
    }

    @Test func quotedStringsUnescape() throws {
        guard case .binary(_, _, .single(let v, true, _), _) = try ConditionParser.parse(#"a.b = "x\"y\\z""#) else {
            Issue.record("shape"); return
        }
        #expect(v == "x\"y\\z")
        #expect(throws: ConditionParser.Failure.self) { try ConditionParser.parse(#"a.b = 'x\"y'"#) }
    }
}
