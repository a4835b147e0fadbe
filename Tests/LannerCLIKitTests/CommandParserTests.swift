import Testing
import LannerCLIKit

@Suite struct CommandParserTests {
    static let spec = CommandSpec("tool", abstract: "test", subcommands: [
        CommandSpec("alerts", abstract: "alerts", subcommands: [
            CommandSpec("list", abstract: "list", options: [
                .flag("json", help: "JSON"), .value("limit", "N", help: "max"), .value("rule", "NAME", help: "rule"),
                .flag("verbose", short: "v", help: "more"),
            ]),
        ], defaultSubcommand: "list"),
        CommandSpec("rules", abstract: "rules", subcommands: [
            CommandSpec("validate", abstract: "v", arguments: [ArgumentSpec("file", variadic: true, help: "files")]),
        ]),
    ])

    @Test func optionsAndDefaultSubcommand() throws {
        let p = try CommandParser.parse(["alerts", "--json", "--limit", "5", "--rule=x y", "-v"], spec: Self.spec)
        #expect(p.path == ["tool", "alerts", "list"])
        #expect(p.flag("json") && p.flag("verbose"))
        #expect(try p.int("limit", default: 100) == 5)
        #expect(p.value("rule") == "x y")
    }

    @Test func variadicArguments() throws {
        let p = try CommandParser.parse(["rules", "validate", "a.yaml", "b.yaml"], spec: Self.spec)
        #expect(p.arguments == ["a.yaml", "b.yaml"])
    }

    @Test(arguments: [
        (["alerts", "--nope"], "tool alerts list: unknown option '--nope' (see 'tool alerts list --help')"),
        (["alerts", "--limit"], "tool alerts list: option '--limit' needs a value"),
        (["alerts", "--json=1"], "tool alerts list: option '--json' does not take a value"),
        (["bogus"], "tool: unknown command 'bogus'; choose one of: alerts, rules"),
        ([], "tool: missing a command; choose one of: alerts, rules"),
        (["rules", "validate"], "tool rules validate: missing argument <file>"),
        (["alerts", "list", "extra"], "tool alerts list: unexpected argument 'extra'"),
        (["alerts", "--limit", "1", "--limit", "2"], "tool alerts list: option '--limit' given more than once"),
    ])
    func errorsSayWhatAndWhere(args: [String], message: String) {
        #expect { try CommandParser.parse(args, spec: Self.spec) } throws: { ($0 as? CLIError)?.description == message }
    }

    @Test func badNumbersAreNamed() throws {
        let p = try CommandParser.parse(["alerts", "--limit", "ten"], spec: Self.spec)
        #expect(throws: CLIError.badValue(option: "limit", value: "ten", reason: "is not a non-negative whole number")) {
            try p.int("limit", default: 1)
        }
        let huge = try CommandParser.parse(["alerts", "--limit", "99999999999999999999"], spec: Self.spec)
        #expect(throws: CLIError.badValue(option: "limit", value: "99999999999999999999", reason: "is too large (at most \(Int.max))")) {
            try huge.int("limit", default: 1)
        }
    }

    @Test func helpListsOptions() {
        do {
            _ = try CommandParser.parse(["alerts", "list", "--help"], spec: Self.spec)
            Issue.record("expected help")
        } catch {
            guard case .helpRequested(let h) = error else { Issue.record("\(error)"); return }
            #expect(h.contains("--limit N"))
            #expect(h.contains("-v, --verbose"))
        }
    }
}
