import Testing
@testable import LannerYAML

@Suite struct YAMLParserTests {
    @Test func parsesFalcoShapedItemsWithPositions() throws {
        let text = """
        - list: shell_binaries
          items: [bash, "sh", 'zsh']
        - macro: spawned_process
          condition: evt.type in (execve, execveat)
        - rule: Terminal shell
          desc: >
            folded
            text
          condition: |
            spawned_process and
            proc.name in (shell_binaries)
          enabled: false
        """
        let docs = try YAMLParser.parse(text, source: "r.yaml")
        #expect(docs.count == 1)
        let items = try #require(docs[0].sequence)
        #expect(items.count == 3)
        let list = items[0]
        #expect(list["list"]?.scalar == "shell_binaries")
        let vals = try #require(list["items"]?.sequence)
        #expect(vals.map { $0.scalar } == ["bash", "sh", "zsh"])
        #expect(vals.map { $0.scalarStyle } == [.plain, .doubleQuoted, .singleQuoted])
        #expect(items[1].start == Mark(line: 3, column: 3, offset: items[1].start.offset))
        let rule = items[2]
        #expect(rule["desc"]?.scalar == "folded text\n")
        #expect(rule["condition"]?.scalar == "spawned_process and\nproc.name in (shell_binaries)\n")
        #expect(rule["condition"]?.start.line == 9)
        #expect(rule["enabled"]?.bool == false)
        #expect(rule["missing"] == nil)
    }

    @Test func resolvesAliases() throws {
        let docs = try YAMLParser.parse("a: &x [1, 2]\nb: *x\n")
        #expect(docs[0]["b"]?.sequence?.map { $0.scalar } == ["1", "2"])
        #expect(docs[0]["b"]?.start.line == 2)
    }

    @Test func multipleDocumentsAndEmptyInput() throws {
        #expect(try YAMLParser.parse("").isEmpty)
        let docs = try YAMLParser.parse("a: 1\n---\nb: 2\n")
        #expect(docs.count == 2)
        #expect(docs[1]["b"]?.scalar == "2")
    }

    @Test func nullsAndBooleans() throws {
        let d = try YAMLParser.parse("a: ~\nb:\nc: 'null'\nd: yes\ne: \"true\"\n")[0]
        #expect(d["a"]?.isNull == true)
        #expect(d["b"]?.isNull == true)
        #expect(d["c"]?.isNull == false)
        #expect(d["d"]?.bool == true)
        #expect(d["e"]?.bool == nil)
    }

    @Test(arguments: [
        ("a: b: c\n", 1, "mapping values are not allowed in this context"),
        ("- a\n- [b\n", 3, "did not find expected ',' or ']'"),
        ("key: \"unterminated\n", 2, "found unexpected end of stream"),
        ("a: *nope\n", 1, "unknown alias '*nope'"),
    ])
    func syntaxErrorsCarryPositions(text: String, line: Int, message: String) throws {
        do {
            _ = try YAMLParser.parse(text, source: "bad.yaml")
            Issue.record("expected an error")
        } catch {
            #expect(error.message == message)
            #expect(error.mark.line == line)
            #expect(error.description.hasPrefix("bad.yaml:\(line):"))
        }
    }

    @Test func billionLaughsIsRejected() throws {
        var text = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for i in 1...9 {
            text += "a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        #expect(throws: YAMLError.self) { try YAMLParser.parse(text) }
    }
}
