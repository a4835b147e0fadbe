// lanner-collector: the central service (serve) and the command line users query it with.
import Foundation
import LannerCLIKit
import LannerCollectorService
import LannerCore

let commonDB = OptionSpec.value("db", "PATH", help: "SQLite database (default: \(Defaults.database))")
let rulesOption = OptionSpec.value("rules", "FILE|DIR", repeatable: true,
                                   help: "rule file or directory of *.yaml, repeatable, loaded in order (default: \(Defaults.rules))")

let spec = CommandSpec(
    "lanner-collector", abstract: "Lanner's collector: takes sensors' event streams, evaluates rules, stores alerts",
    subcommands: [
        CommandSpec("serve", abstract: "run the collector service", options: [
            .value("config", "FILE", help: "collector configuration (collector/collector.yaml documents every key); options given here win"),
            .value("listen", "HOST:PORT", help: "address to serve h2c on (default 127.0.0.1:7601)"),
            .value("metrics-listen", "HOST:PORT", help: "also serve GET /metrics over plain HTTP/1.1 here (bearer token required)"),
            commonDB, rulesOption,
            .value("token-file", "FILE", help: "file holding the bearer token sensors must send (or set LANNER_TOKEN)"),
            .value("rule-matching", "all|first", help: "all: every matching rule alerts (default); first: Falco's first match wins"),
            .value("min-priority", "PRIORITY", help: "load only rules at or above this priority"),
            .flag("no-resolve-names", help: "do not look up the domain names rules compare fd.*ip.name with (those comparisons are then false)"),
            .flag("no-watch-rules", help: "reload the rules on SIGHUP only, not also when the rule files change"),
            .flag("verbose", short: "v", help: "print ingest counters every 5 seconds and on exit"),
        ]),
        QueryCommands.alertsSpec,
        QueryCommands.sensorsSpec,
        CommandSpec("rules", abstract: "check and inspect rule files", subcommands: [
            CommandSpec("validate", abstract: "load rule files and report every problem (exit 1 on errors)", options: [
                .flag("quiet", short: "q", help: "errors only"),
            ], arguments: [ArgumentSpec("file", variadic: true, help: "rule files or directories, loaded in order")]),
            CommandSpec("list", abstract: "list the rules the files define", options: [rulesOption]),
            CommandSpec("describe", abstract: "show a rule's expanded condition and event types", options: [rulesOption],
                        arguments: [ArgumentSpec("name", help: "rule name")]),
            CommandSpec("fields", abstract: "every field rules can use: type, description, whether Lanner supplies it", options: [
                .value("class", "CLASS", help: "only this field class (proc, fd, evt, container, …)"),
                .flag("supported", help: "only fields Lanner supplies"),
                .flag("unsupported", help: "only fields Lanner does not supply yet"),
            ]),
            CommandSpec("test", abstract: "run recorded events through rules and show what fires", options: [
                .value("explain", "RULE", help: "also show, for each event, why RULE did or did not match"),
                .value("rule-matching", "all|first", help: "all (default) or first"),
                .flag("no-resolve-names", help: "do not look up the domain names rules compare fd.*ip.name with (those comparisons are then false)"),
            ], arguments: [
                ArgumentSpec("rules", help: "rule file or directory"),
                ArgumentSpec("events", help: "a capture file (lanner-sensor -w) or JSON lines of records"),
            ]),
        ]),
        CommandSpec("replay", abstract: "run capture files (lanner-sensor -w) through the rules; print the alerts a live collector would store", options: [
            rulesOption,
            .value("rule-matching", "all|first", help: "all (default) or first"),
            .value("min-priority", "PRIORITY", help: "load only rules at or above this priority"),
            .flag("json", help: "one JSON object per line, shaped like Falco's JSON output"),
            .flag("no-resolve-names", help: "do not look up the domain names rules compare fd.*ip.name with (those comparisons are then false)"),
        ], arguments: [ArgumentSpec("capture", variadic: true, help: "capture files (plain or zstd-compressed), replayed in order")]),
        CommandSpec("version", abstract: "print the version"),
    ])

Signals.restoreDefaults()
do {
    let cmd = try CommandParser.parse(Array(CommandLine.arguments.dropFirst()), spec: spec)
    switch Array(cmd.path.dropFirst()) {
    case ["serve"]: exit(try Commands.serve(cmd))
    case ["rules", "validate"]: exit(try Commands.rulesValidate(cmd))
    case ["rules", "list"]: exit(try Commands.rulesList(cmd))
    case ["rules", "describe"]: exit(try Commands.rulesDescribe(cmd))
    case ["rules", "fields"]: exit(try Commands.rulesFields(cmd))
    case ["rules", "test"]: exit(try Commands.rulesTest(cmd))
    case ["replay"]: exit(try Commands.replay(cmd))
    case ["version"]: print("lanner-collector \(Defaults.version)")
    default:
        guard let status = try QueryCommands.run(cmd) else { exit(2) }
        exit(status)
    }
} catch let e as CLIError {
    if case .helpRequested(let h) = e { print(h, terminator: ""); exit(0) }
    if e.description.hasPrefix("lanner-collector") {   // it names the command itself
        FileHandle.standardError.write(Data((e.description + "\n").utf8))
        exit(2)
    }
    Commands.fail(e.description, code: 2)
} catch {
    Commands.fail("\(error)", code: 1)
}
