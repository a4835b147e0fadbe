import LannerCore

/// Loads Falco-language rule files: read → collect/merge → compile. Pure: the caller reads the files.
///
/// ```swift
/// let result = RuleLoader.load([RuleFile(name: "rules.yaml", text: text)])
/// if result.report.hasErrors { print(result.report.rendered()) }
/// let ruleset = try Ruleset(result.rules, provider: myFields)
/// ```
public enum RuleLoader {
    /// The Falco engine version Lanner's rule language corresponds to (for `required_engine_version`).
    public static let engineVersion = EngineVersion(0, 57, 0)

    public struct Configuration: Sendable {
        public var engineVersion: EngineVersion = RuleLoader.engineVersion
        /// Event sources rules may name; others are skipped with LOAD_UNKNOWN_SOURCE.
        public var sources: Set<String> = ["syscall"]
        /// Plugins whose required versions count as available (Lanner builds in what Falco's container plugin gives).
        public var availablePlugins: Set<String> = ["container"]
        /// Rules below this priority are compiled but not put into rulesets.
        public var minimumPriority: Priority = .debug
        public var catalog: FieldCatalog = .falco
        /// Whether the collector supplies a field's value (LOAD_UNSUPPORTED_FIELD for rules that need others).
        public var isSupported: @Sendable (ResolvedField) -> Bool = { _ in true }
        /// Bounds that keep loading finite on any input.
        public var limits = Limits()

        public init() {}

        /// A field as exception `fields` write it, transformers allowed (`tolower( proc.name)`).
        func isFieldDefined(_ text: String) -> Bool {
            guard let e = try? ConditionParser.parse(text.trimmingCharacters(in: " \t") + " exists") else { return false }
            guard case .unary(let o, _, _) = e else { return false }
            if case .success = catalog.resolve(o.field.name, arg: o.field.arg) { return true }
            return false
        }
    }

    /// Bounds on what loading builds, so that no rule file can make it run out of stack, memory or time.
    /// Crossing one is an error (LOAD_ERR_YAML_PARSE for YAML nesting, LOAD_ERR_VALIDATE otherwise) in the
    /// item that crossed it; items using a failed list or macro are left out, as with any failed item.
    ///
    /// For scale: Falco's own rule files (incubating and sandbox included) nest YAML 4 levels deep and
    /// expand to about 10 000 nodes in all. A release build type-checks about a million nodes a second,
    /// at about 200 bytes each.
    public struct Limits: Sendable {
        /// How deeply YAML sequences and mappings may nest in a rules file.
        public var yamlDepth = 1_000
        /// Items a list may have once the lists it names are expanded.
        public var listItems = 1_000_000
        /// Nodes a condition may have once its macros and lists are expanded: `and`/`or`/`not` nodes,
        /// checks, and each list value. Macros are shared while resolving, so this is what bounds a macro
        /// that uses another twice, repeated (2^n checks), before anything walks the expansion.
        public var conditionSize = 1_000_000
        /// How deeply a condition may nest (`and`/`or`/`not` levels) once its macros are expanded. Every
        /// recursive pass over conditions (type checking, printing, planning, destruction) is bounded by it.
        public var conditionDepth = 1_000
        /// Nodes and list items all the lists, macros and rules of one load may expand to together, so that
        /// many items, each under the limits above, cannot add up to unbounded memory.
        public var totalSize = 5_000_000

        public init() {}
    }

    /// Loads `files` in order (later files append to and override earlier ones).
    public static func load(_ files: [RuleFile], config: Configuration = Configuration()) -> LoadResult {
        var collector = RuleCollector(config: config, report: LoadReport())
        for f in files { collector.read(f) }
        var compiler = RuleCompiler(config: config, collector: collector)
        let out = compiler.compile()
        var report = compiler.report
        report.diagnostics = stableOrder(report.diagnostics)
        return LoadResult(report: report, rules: out.rules, macros: out.macros, lists: out.lists,
                          requiredEngineVersion: collector.requiredEngineVersion, minimumPriority: config.minimumPriority)
    }

    /// Errors first, each group in the order found.
    static func stableOrder(_ ds: [Diagnostic]) -> [Diagnostic] {
        ds.filter { $0.severity == .error } + ds.filter { $0.severity == .warning }
    }
}

/// What loading produced.
public struct LoadResult: Sendable {
    public var report: LoadReport
    /// Compiled rules in definition order (a rule keeps the position of its first definition).
    public var rules: [CompiledRule]
    public var macros: [CompiledMacro]
    public var lists: [CompiledList]
    public var requiredEngineVersion: EngineVersion?
    public var minimumPriority: Priority

    /// Rules that will run: enabled, at or above the minimum priority.
    public var activeRules: [CompiledRule] { rules.filter { $0.enabled && $0.priority.isAtLeast(minimumPriority) } }

    public func rule(named name: String) -> CompiledRule? { rules.first { $0.name == name } }
}

/// A rule ready to be put in a ruleset.
public struct CompiledRule: Sendable {
    public var name: String
    public var description: String
    public var priority: Priority
    public var source: String
    /// Sorted, as Falco keeps them.
    public var tags: [String]
    public var enabled: Bool
    /// The typed condition.
    public var condition: Condition
    /// The condition after lists, macros and exceptions were expanded (Falco-printed by `expandedText`).
    public var expandedCondition: Expr
    /// The condition as written (after appends).
    public var conditionText: String
    public var outputText: String
    public var output: OutputFormat
    /// Falco event names the rule can match.
    public var eventTypes: Set<String>
    /// Fields the condition needs that the collector does not supply; a non-empty list keeps the rule from running.
    public var unsupportedFields: [String]
    public var warnEvttypes: Bool
    public var skipIfUnknownFilter: Bool
    public var capture: Bool
    public var captureDuration: UInt64
    public var exceptionFields: [String]
    /// Position among all rules (Falco's rule order for `rule_matching: first`).
    public var index: Int

    public var expandedText: String { ConditionPrinter.string(expandedCondition) }
    public var isSupported: Bool { unsupportedFields.isEmpty }
}

public struct CompiledMacro: Sendable {
    public var name: String
    public var condition: String
    /// The macro's condition with its lists and macros expanded; nil when it failed to compile.
    public var expanded: String?
    public var used: Bool
}

public struct CompiledList: Sendable {
    public var name: String
    /// Items with referenced lists expanded.
    public var items: [String]
    public var used: Bool
    /// Names of other lists this list's items referred to.
    public var references: [String]
}
