/// A small command-line parser in the shape of swift-argument-parser: commands declare their options,
/// positionals and subcommands; parsing returns the values or a `CLIError` that says what and where.

/// One option: `--name VALUE`, `--name=VALUE`, or a flag `--name` / `-n`.
public struct OptionSpec: Sendable {
    public enum Kind: Sendable, Equatable { case flag, value(placeholder: String) }

    public var name: String
    public var short: Character?
    public var kind: Kind
    public var help: String
    public var repeatable: Bool

    public init(_ name: String, short: Character? = nil, _ kind: Kind = .flag, repeatable: Bool = false, help: String) {
        self.name = name
        self.short = short
        self.kind = kind
        self.help = help
        self.repeatable = repeatable
    }

    public static func flag(_ name: String, short: Character? = nil, help: String) -> OptionSpec {
        OptionSpec(name, short: short, .flag, help: help)
    }

    public static func value(_ name: String, short: Character? = nil, _ placeholder: String, repeatable: Bool = false, help: String) -> OptionSpec {
        OptionSpec(name, short: short, .value(placeholder: placeholder), repeatable: repeatable, help: help)
    }
}

/// A positional argument.
public struct ArgumentSpec: Sendable {
    public var name: String
    public var help: String
    public var required: Bool
    /// Takes every remaining argument.
    public var variadic: Bool

    public init(_ name: String, required: Bool = true, variadic: Bool = false, help: String) {
        self.name = name
        self.required = required
        self.variadic = variadic
        self.help = help
    }
}

/// A command: its interface and its subcommands.
public struct CommandSpec: Sendable {
    public var name: String
    public var abstract: String
    public var discussion: String
    public var options: [OptionSpec]
    public var arguments: [ArgumentSpec]
    public var subcommands: [CommandSpec]
    /// Subcommand run when none is named (e.g. `alerts` → `alerts list`).
    public var defaultSubcommand: String?

    public init(_ name: String, abstract: String, discussion: String = "", options: [OptionSpec] = [],
                arguments: [ArgumentSpec] = [], subcommands: [CommandSpec] = [], defaultSubcommand: String? = nil) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.options = options
        self.arguments = arguments
        self.subcommands = subcommands
        self.defaultSubcommand = defaultSubcommand
    }
}

/// What went wrong on the command line. Each message names the command and the offending word.
public enum CLIError: Error, Equatable, CustomStringConvertible {
    case unknownOption(String, command: String)
    case missingValue(option: String, command: String)
    case unexpectedValue(option: String, command: String)
    case unknownCommand(String, command: String, choices: [String])
    case missingCommand(command: String, choices: [String])
    case missingArgument(String, command: String)
    case extraArgument(String, command: String)
    case badValue(option: String, value: String, reason: String)
    case repeated(option: String, command: String)
    /// `--help` was given: print `help` and exit 0.
    case helpRequested(String)

    public var description: String {
        switch self {
        case .unknownOption(let o, let c): return "\(c): unknown option '\(o)' (see '\(c) --help')"
        case .missingValue(let o, let c): return "\(c): option '--\(o)' needs a value"
        case .unexpectedValue(let o, let c): return "\(c): option '--\(o)' does not take a value"
        case .unknownCommand(let w, let c, let choices): return "\(c): unknown command '\(w)'; choose one of: \(choices.joined(separator: ", "))"
        case .missingCommand(let c, let choices): return "\(c): missing a command; choose one of: \(choices.joined(separator: ", "))"
        case .missingArgument(let a, let c): return "\(c): missing argument <\(a)>"
        case .extraArgument(let a, let c): return "\(c): unexpected argument '\(a)'"
        case .badValue(let o, let v, let r): return "option '--\(o)': '\(v)' \(r)"
        case .repeated(let o, let c): return "\(c): option '--\(o)' given more than once"
        case .helpRequested(let h): return h
        }
    }
}

/// The result of parsing: the chosen command path and its values.
public struct ParsedCommand: Sendable {
    /// Command names from the root: ["lanner-collector", "alerts", "list"].
    public var path: [String]
    public var flags: Set<String> = []
    public var values: [String: [String]] = [:]
    public var arguments: [String] = []

    public var command: String { path.joined(separator: " ") }
    /// The last command name (the one to run).
    public var leaf: String { path.last ?? "" }

    public func flag(_ name: String) -> Bool { flags.contains(name) }
    public func value(_ name: String) -> String? { values[name]?.last }
    public func all(_ name: String) -> [String] { values[name] ?? [] }

    /// A non-negative integer option.
    public func int(_ name: String, default d: Int) throws(CLIError) -> Int {
        guard let v = value(name) else { return d }
        guard let n = Int(v), n >= 0 else {
            // all digits but no Int: say so, rather than that it is not a number
            if !v.isEmpty && v.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
                throw .badValue(option: name, value: v, reason: "is too large (at most \(Int.max))")
            }
            throw .badValue(option: name, value: v, reason: "is not a non-negative whole number")
        }
        return n
    }

    /// An integer option that must lie in `range` (sizes, intervals: values that are later shifted or
    /// converted must not wrap).
    public func int(_ name: String, default d: Int, in range: ClosedRange<Int>, unit: String = "") throws(CLIError) -> Int {
        let n = try int(name, default: d)
        guard range.contains(n) else {
            let u = unit.isEmpty ? "" : " " + unit
            throw .badValue(option: name, value: String(n), reason: "is out of range (\(range.lowerBound)…\(range.upperBound)\(u))")
        }
        return n
    }
}

public enum CommandParser {
    /// Parses `args` (without the program name) against `spec`.
    public static func parse(_ args: [String], spec: CommandSpec) throws(CLIError) -> ParsedCommand {
        var out = ParsedCommand(path: [spec.name])
        var current = spec
        var i = 0
        var positional: [String] = []
        var onlyPositionals = false
        while i < args.count {
            let a = args[i]
            i += 1
            if !onlyPositionals && a == "--" { onlyPositionals = true; continue }
            if !onlyPositionals && (a == "--help" || a == "-h") { throw .helpRequested(help(current, path: out.path)) }
            if !onlyPositionals && a.hasPrefix("-") && a.count >= 2 && a != "-",
               let d = current.defaultSubcommand, let sub = current.subcommands.first(where: { $0.name == d }) {
                // An option before any subcommand name belongs to the default subcommand.
                current = sub
                out.path.append(sub.name)
            }
            if !onlyPositionals && a.hasPrefix("--") && a.count > 2 {
                var name = String(a.dropFirst(2))
                var inline: String?
                if let eq = name.firstIndex(of: "=") {
                    inline = String(name[name.index(after: eq)...])
                    name = String(name[..<eq])
                }
                guard let opt = current.options.first(where: { $0.name == name }) else {
                    throw .unknownOption("--" + name, command: out.command)
                }
                try take(opt, inline: inline, args: args, i: &i, into: &out)
                continue
            }
            if !onlyPositionals && a.hasPrefix("-") && a.count == 2 && a != "-" {
                let c = a.last!
                guard let opt = current.options.first(where: { $0.short == c }) else { throw .unknownOption(a, command: out.command) }
                try take(opt, inline: nil, args: args, i: &i, into: &out)
                continue
            }
            if positional.isEmpty && !current.subcommands.isEmpty && !onlyPositionals {
                guard let sub = current.subcommands.first(where: { $0.name == a }) else {
                    throw .unknownCommand(a, command: out.command, choices: current.subcommands.map(\.name))
                }
                current = sub
                out.path.append(sub.name)
                continue
            }
            positional.append(a)
        }
        if !current.subcommands.isEmpty {
            guard let d = current.defaultSubcommand, let sub = current.subcommands.first(where: { $0.name == d }) else {
                throw .missingCommand(command: out.command, choices: current.subcommands.map(\.name))
            }
            current = sub
            out.path.append(sub.name)
        }
        // Positionals.
        var k = 0
        for arg in current.arguments {
            if arg.variadic {
                if arg.required && k >= positional.count { throw .missingArgument(arg.name, command: out.command) }
                out.arguments += positional[k...]
                k = positional.count
            } else if k < positional.count {
                out.arguments.append(positional[k])
                k += 1
            } else if arg.required {
                throw .missingArgument(arg.name, command: out.command)
            }
        }
        if k < positional.count { throw .extraArgument(positional[k], command: out.command) }
        return out
    }

    static func take(_ opt: OptionSpec, inline: String?, args: [String], i: inout Int, into out: inout ParsedCommand) throws(CLIError) {
        switch opt.kind {
        case .flag:
            if inline != nil { throw .unexpectedValue(option: opt.name, command: out.command) }
            out.flags.insert(opt.name)
        case .value:
            let v: String
            if let inline {
                v = inline
            } else {
                guard i < args.count, !(args[i].hasPrefix("--") && args[i].count > 2) else {
                    throw .missingValue(option: opt.name, command: out.command)
                }
                v = args[i]
                i += 1
            }
            if !opt.repeatable && out.values[opt.name] != nil { throw .repeated(option: opt.name, command: out.command) }
            // No option of ours means anything by an empty value (an empty path would silently be "here" or,
            // for SQLite, a throw-away temporary database).
            guard !v.isEmpty else { throw .badValue(option: opt.name, value: v, reason: "is empty") }
            out.values[opt.name, default: []].append(v)
        }
    }

    /// Help text for a command.
    public static func help(_ spec: CommandSpec, path: [String]) -> String {
        var s = "\(path.joined(separator: " ")) — \(spec.abstract)\n"
        var usage = "usage: \(path.joined(separator: " "))"
        if !spec.subcommands.isEmpty { usage += " <command>" }
        if !spec.options.isEmpty { usage += " [options]" }
        for a in spec.arguments { usage += a.required ? " <\(a.name)>" : " [\(a.name)]"; if a.variadic { usage += "…" } }
        s += usage + "\n"
        if !spec.discussion.isEmpty { s += "\n" + spec.discussion + "\n" }
        if !spec.subcommands.isEmpty {
            s += "\ncommands:\n"
            let w = spec.subcommands.map(\.name.count).max() ?? 0
            for c in spec.subcommands {
                s += "  " + c.name + String(repeating: " ", count: w - c.name.count + 2) + c.abstract
                if c.name == spec.defaultSubcommand { s += " (default)" }
                s += "\n"
            }
        }
        if !spec.arguments.isEmpty {
            s += "\narguments:\n"
            for a in spec.arguments { s += "  <\(a.name)>  \(a.help)\n" }
        }
        if !spec.options.isEmpty {
            s += "\noptions:\n"
            let labels = spec.options.map { o -> String in
                var l = (o.short.map { "-\($0), " } ?? "    ") + "--" + o.name
                if case .value(let p) = o.kind { l += " " + p }
                return l
            }
            let w = labels.map(\.count).max() ?? 0
            for (o, l) in zip(spec.options, labels) {
                s += "  " + l + String(repeating: " ", count: w - l.count + 2) + o.help + "\n"
            }
        }
        s += "  -h, --help" + String(repeating: " ", count: max(2, (spec.options.map { _ in 0 }.count > 0 ? 0 : 0) + 2)) + "show this help\n"
        return s
    }
}
