// lanner-eventgen: does suspicious things harmlessly, so anyone can watch Lanner detect them.
import Foundation
import Glibc
import LannerCLIKit

func say(_ s: String) { FileHandle.standardOutput.write(Data((s + "\n").utf8)) }

let settleOption = OptionSpec.value("settle-ms", "MS", help: "wait this long after the container starts before opening the file, "
                                    + "so the sensor has described it (default 1000)")
let actionSpecs = Actions.all.map { CommandSpec($0.name, abstract: $0.summary + " (expect: \($0.rule))") }
    + ContainerActions.all.map { CommandSpec($0.name, abstract: $0.summary + " (expect: \($0.rule))", options: [settleOption]) }
let spec = CommandSpec(
    "lanner-eventgen", abstract: "does suspicious things harmlessly so you can watch Lanner work",
    discussion: "Run as root with lanner-sensor and lanner-collector running; each action should raise the rule named. "
        + "The container actions need podman (they build a local busybox image and start their own container) and a "
        + "Docker-compatible API socket the sensor reads (docker's, or `podman system service`'s).",
    subcommands: actionSpecs + [
        CommandSpec("all", abstract: "runs every host action in turn (not the container actions: see `containers`)", options: [
            .value("pause-ms", "MS", help: "pause between actions (default 200)"),
        ]),
        CommandSpec("containers", abstract: "runs every container action in turn (needs podman)", options: [settleOption]),
        CommandSpec("list", abstract: "lists the actions and the rules they should raise"),
    ])

// Hidden child entry points (the parent re-executes itself).
let argv = Array(CommandLine.arguments.dropFirst())
if argv.first == "__spawn-shell-child" { exit(Actions.spawnShellChild()) }
if argv.first == "__connect", argv.count == 2, let port = UInt16(argv[1]) { exit(Actions.connectChild(port: port)) }

func run(_ a: Action) -> Bool {
    do {
        let what = try a.run()
        say("\(a.name): \(what) (expect: \(a.rule))")
        return true
    } catch {
        FileHandle.standardError.write(Data("lanner-eventgen \(a.name): \(error)\n".utf8))
        return false
    }
}

do {
    let cmd = try CommandParser.parse(argv, spec: spec)
    switch cmd.leaf {
    case "list":
        for a in Actions.all + ContainerActions.all { say("\(a.name)\t\(a.rule)") }
    case "containers":
        ContainerActions.settleMs = try cmd.int("settle-ms", default: 1000, in: 0...60_000, unit: "ms")
        var ok = true
        for a in ContainerActions.all { ok = run(a) && ok }
        exit(ok ? 0 : 1)
    case "all":
        let pause = try cmd.int("pause-ms", default: 200, in: 0...60_000, unit: "ms")
        var ok = true
        for a in Actions.all {
            ok = run(a) && ok
            usleep(UInt32(pause * 1000))
        }
        exit(ok ? 0 : 1)
    default:
        if let a = ContainerActions.all.first(where: { $0.name == cmd.leaf }) {
            ContainerActions.settleMs = try cmd.int("settle-ms", default: 1000, in: 0...60_000, unit: "ms")
            exit(run(a) ? 0 : 1)
        }
        guard let a = Actions.all.first(where: { $0.name == cmd.leaf }) else { exit(2) }
        exit(run(a) ? 0 : 1)
    }
} catch {
    if case .helpRequested(let h) = error { say(h); exit(0) }
    FileHandle.standardError.write(Data("\(error)\n".utf8))
    exit(2)
}
