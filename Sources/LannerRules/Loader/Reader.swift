import LannerCore
import LannerYAML

/// Stage 1 and 2 of loading: reads YAML items (`list`, `macro`, `rule`, `required_*`) and merges them into
/// the collection in file order, applying `append`, `override` and `enabled`, as Falco's rule_loader_reader
/// and rule_loader_collector do. A bad item is reported and skipped; reading goes on with the next item.
struct RuleCollector {
    var lists = Indexed<ListInfo>()
    var macros = Indexed<MacroInfo>()
    var rules = Indexed<RuleInfo>()
    var requiredEngineVersion: EngineVersion?
    var requiredPlugins: [[(name: String, version: String)]] = []
    var report: LoadReport
    var nextIndex = 0
    let config: RuleLoader.Configuration

    init(config: RuleLoader.Configuration, report: LoadReport) {
        self.config = config
        self.report = report
    }

    /// Thrown by the decoding helpers: one item fails with a code, message and context.
    struct ItemError: Error {
        var code: DiagnosticCode
        var message: String
        var context: [Location]
    }

    // MARK: - Files and documents

    mutating func read(_ file: RuleFile) {
        report.sources[file.name] = file.text
        let fileContext = [Location(file: file.name, line: 0, column: 0, kind: .rulesContent)]
        let docs: [YAMLNode]
        do {
            docs = try YAMLParser.parse(file.text, source: file.name, maxDepth: config.limits.yamlDepth)
        } catch {
            report.error(.yamlParse, error.message + (error.context.map { " (\($0))" } ?? ""),
                         [Location(file: file.name, line: error.mark.line, column: error.mark.column, kind: .rulesContent)])
            return
        }
        for doc in docs where !doc.isNull {
            guard let items = doc.sequence else {
                let msg = doc.mapping != nil ? "Rules content is not yaml array of objects" : "Rules content is not yaml"
                report.error(.yamlValidate, msg, [loc(file.name, doc, .rulesContent)])
                continue
            }
            for item in items where !item.isNull {
                do {
                    try readItem(item, file: file.name, parent: fileContext)
                } catch let e as ItemError {
                    report.error(e.code, e.message, e.context)
                } catch {
                    report.error(.validate, "\(error)", fileContext)
                }
            }
        }
    }

    func loc(_ file: String, _ node: YAMLNode, _ kind: Location.Kind, _ name: String = "") -> Location {
        Location(file: file, line: node.start.line, column: node.start.column, kind: kind, name: name)
    }

    func fail(_ message: String, _ context: [Location], _ code: DiagnosticCode = .yamlValidate) -> ItemError {
        ItemError(code: code, message: message, context: context)
    }

    // MARK: - Items

    static let listKeys: Set<String> = ["list", "items", "append", "override"]
    static let macroKeys: Set<String> = ["macro", "condition", "append", "override"]
    static let ruleKeys: Set<String> = ["rule", "desc", "condition", "output", "priority", "enabled", "tags", "exceptions",
                                        "source", "warn_evttypes", "skip-if-unknown-filter", "append", "override",
                                        "capture", "capture_duration"]
    static let ruleAppendable: Set<String> = ["condition", "output", "desc", "tags", "exceptions"]
    static let ruleReplaceable: Set<String> = ["condition", "output", "desc", "priority", "tags", "exceptions", "enabled",
                                               "warn_evttypes", "skip-if-unknown-filter", "capture", "capture_duration"]

    mutating func readItem(_ item: YAMLNode, file: String, parent: [Location]) throws {
        guard item.mapping != nil else {
            throw fail("Unexpected element type. Each element should be a yaml associative array.",
                       parent + [loc(file, item, .rulesContentItem)])
        }
        try checkDuplicateKeys(item, file: file, context: parent + [itemLocation(item, file: file)])
        if item["required_engine_version"] != nil {
            try readEngineVersion(item, file: file, parent: parent)
        } else if let req = item["required_plugin_versions"] {
            try readPluginVersions(req, file: file, parent: parent)
        } else if item["list"] != nil {
            try readList(item, file: file, parent: parent)
        } else if item["macro"] != nil {
            try readMacro(item, file: file, parent: parent)
        } else if item["rule"] != nil {
            try readRule(item, file: file, parent: parent)
        } else {
            report.warning(.unknownItem, "Unknown top level item", parent + [loc(file, item, .rulesContentItem)])
        }
    }

    /// The item a top-level mapping defines, named when its name is a scalar.
    func itemLocation(_ item: YAMLNode, file: String) -> Location {
        for (key, kind) in [("rule", Location.Kind.rule), ("macro", .macro), ("list", .list)] {
            if let v = item[key] { return loc(file, item, kind, v.scalar ?? "") }
        }
        return loc(file, item, .rulesContentItem)
    }

    /// YAML 1.2 forbids a key twice in one mapping, but libyaml does not check it, and a reader can only
    /// guess which value was meant (Falco's yaml-cpp silently takes the first). So a repeated key anywhere
    /// in an item is an error at the second one. Recursive; bounded by the YAML nesting limit.
    func checkDuplicateKeys(_ node: YAMLNode, file: String, context: [Location]) throws {
        switch node.kind {
        case .scalar:
            return
        case .sequence(let items):
            for i in items where i.mapping != nil || i.sequence != nil { try checkDuplicateKeys(i, file: file, context: context) }
        case .mapping(let entries):
            var first: [String: Mark] = [:]
            for (k, v) in entries {
                if let key = k.scalar {
                    if let at = first[key] {
                        throw fail("duplicate key '\(key)' (first at line \(at.line))", context + [loc(file, k, .valueFor, key)])
                    }
                    first[key] = k.start
                }
                try checkDuplicateKeys(v, file: file, context: context)
            }
        }
    }

    func warnUnknownKeys(_ item: YAMLNode, allowed: Set<String>, file: String, context: [Location]) -> [(String, [Location])] {
        var out: [(String, [Location])] = []
        for (k, _) in item.mapping ?? [] {
            guard let key = k.scalar, !allowed.contains(key) else { continue }
            out.append(("Unknown key '\(key)'", context + [loc(file, k, .valueFor, key)]))
        }
        return out
    }

    mutating func readEngineVersion(_ item: YAMLNode, file: String, parent: [Location]) throws {
        let ctx = parent + [loc(file, item, .requiredEngineVersion)]
        let text = try decodeString(item, "required_engine_version", ctx: ctx, file: file)
        let version: EngineVersion
        if let n = UInt32(text) {
            version = EngineVersion(0, Int(n), 0)
        } else if let v = EngineVersion(semver: text) {
            version = v
        } else {
            throw fail("Unable to parse engine version '\(text)' as a semver string. Expected \"x.y.z\" semver format.", ctx)
        }
        guard config.engineVersion.isCompatible(with: version) else {
            throw fail("Rules require engine version \(version), but engine version is \(config.engineVersion)", ctx, .validate)
        }
        if requiredEngineVersion.map({ $0 < version }) ?? true { requiredEngineVersion = version }
    }

    mutating func readPluginVersions(_ node: YAMLNode, file: String, parent: [Location]) throws {
        let ctx = parent + [loc(file, node, .requiredPluginVersions)]
        guard let entries = node.sequence else { throw fail("Value of required_plugin_versions must be a sequence", ctx) }
        for entry in entries {
            let tmp = ctx + [loc(file, entry, .requiredPluginVersionsEntry)]
            guard entry.mapping != nil else { throw fail("Plugin version must be a mapping", tmp) }
            let name = try decodeString(entry, "name", ctx: tmp, file: file)
            let pctx = ctx + [loc(file, entry, .requiredPluginVersionsEntry, name)]
            let version = try decodeString(entry, "version", ctx: pctx, file: file)
            guard EngineVersion(semver: version) != nil else {
                throw fail("Invalid required version '\(version)' for plugin '\(name)'", pctx, .validate)
            }
            var alternatives = [(name: name, version: version)]
            if let alts = entry["alternatives"] {
                guard let seq = alts.sequence else { throw fail("Value of plugin version alternatives must be a sequence", pctx) }
                for alt in seq {
                    guard alt.mapping != nil else { throw fail("Plugin version alternative must be a mapping", pctx) }
                    let an = try decodeString(alt, "name", ctx: pctx, file: file)
                    let av = try decodeString(alt, "version", ctx: pctx, file: file)
                    if alternatives.contains(where: { $0.name == an }) {
                        throw fail("Defined multiple alternative version requirements for plugin '\(an)'", pctx, .validate)
                    }
                    alternatives.append((an, av))
                }
            }
            requiredPlugins.append(alternatives)
            if !config.availablePlugins.contains(where: { p in alternatives.contains { $0.name == p } }) {
                report.warning(.unavailablePlugin,
                               "Plugin '\(name)' version \(version) is required by these rules but not loaded in Lanner; "
                                   + "Lanner provides the fields it can itself (for 'container', the container.* fields)", pctx)
            }
        }
    }

    mutating func readList(_ item: YAMLNode, file: String, parent: [Location]) throws {
        let tmp = parent + [loc(file, item, .list)]
        let name = try decodeString(item, "list", ctx: tmp, file: file)
        let ctx = parent + [loc(file, item, .list, name)]
        if !Self.isBareString(name) {
            report.warning(.invalidListName,
                           "List has an invalid name. List names should match a regular expression: ([^()\"'[:space:]=,]+)", ctx)
        }
        let items = try decodeItems(item, ctx: ctx, file: file)
        var append = try decodeBool(item, "append", ctx: ctx, file: file) ?? false
        if append { report.warning(.deprecatedItem, Self.warningAppend, ctx) }
        let (overAppend, overReplace) = try decodeOverrides(item, appendable: ["items"], replaceable: ["items"], ctx: ctx, file: file)
        if append && !(overAppend.isEmpty && overReplace.isEmpty) { throw fail(Self.errorOverrideAppend, ctx) }
        for w in warnUnknownKeys(item, allowed: Self.listKeys, file: file, context: ctx) { report.warning(.unknownKey, w.0, w.1) }
        append = append || overAppend.contains("items")
        if append {
            guard let prev = lists[name] else {
                throw fail("List uses 'append' or 'override.items: append' but no list by that name already exists", ctx, .validate)
            }
            prev.items += items
            prev.visibility = nextIndex
        } else if let prev = lists[name] {
            prev.items = items
            prev.visibility = nextIndex
            prev.context = ctx
        } else {
            lists.insert(ListInfo(name: name, items: items, index: nextIndex, visibility: nextIndex, context: ctx), name: name)
        }
        nextIndex += 1
    }

    mutating func readMacro(_ item: YAMLNode, file: String, parent: [Location]) throws {
        let tmp = parent + [loc(file, item, .macro)]
        let name = try decodeString(item, "macro", ctx: tmp, file: file)
        let ctx = parent + [loc(file, item, .macro, name)]
        if !Self.isIdentifier(name) {
            report.warning(.invalidMacroName,
                           "Macro has an invalid name. Macro names should match a regular expression: ([a-zA-Z]+[a-zA-Z0-9_]*)", ctx)
        }
        let cond = try decodeText(item, "condition", ctx: ctx, file: file)
        let condCtx = ctx + [loc(file, item["condition"]!, .macroCondition)]
        var append = try decodeBool(item, "append", ctx: ctx, file: file) ?? false
        if append { report.warning(.deprecatedItem, Self.warningAppend, ctx) }
        let (overAppend, overReplace) = try decodeOverrides(item, appendable: ["condition"], replaceable: ["condition"], ctx: ctx, file: file)
        if append && !(overAppend.isEmpty && overReplace.isEmpty) { throw fail(Self.errorOverrideAppend, ctx) }
        for w in warnUnknownKeys(item, allowed: Self.macroKeys, file: file, context: ctx) { report.warning(.unknownKey, w.0, w.1) }
        append = append || overAppend.contains("condition")
        if append {
            guard let prev = macros[name] else {
                throw fail("Macro uses 'append' or 'override.condition: append' but no macro by that name already exists", ctx, .validate)
            }
            prev.condition.append(cond)
            prev.visibility = nextIndex
        } else if let prev = macros[name] {
            prev.condition = cond
            prev.visibility = nextIndex
            prev.context = ctx
            prev.conditionContext = condCtx
        } else {
            macros.insert(MacroInfo(name: name, condition: cond, index: nextIndex, visibility: nextIndex, context: ctx,
                                    conditionContext: condCtx), name: name)
        }
        nextIndex += 1
    }

    mutating func readRule(_ item: YAMLNode, file: String, parent: [Location]) throws {
        let tmp = parent + [loc(file, item, .rule)]
        let name = try decodeString(item, "rule", ctx: tmp, file: file)
        let ctx = parent + [loc(file, item, .rule, name)]
        let appendFlag = try decodeBool(item, "append", ctx: ctx, file: file) ?? false
        if appendFlag { report.warning(.deprecatedItem, Self.warningAppend, ctx) }
        let (overAppend, overReplace) = try decodeOverrides(item, appendable: Self.ruleAppendable,
                                                            replaceable: Self.ruleReplaceable, ctx: ctx, file: file)
        let hasOverrides = !overAppend.isEmpty || !overReplace.isEmpty
        if appendFlag && hasOverrides { throw fail(Self.errorOverrideAppend, ctx) }
        for w in warnUnknownKeys(item, allowed: Self.ruleKeys, file: file, context: ctx) { report.warning(.unknownKey, w.0, w.1) }
        let source = try decodeOptionalSource(item, ctx: ctx, file: file)

        if hasOverrides {
            var expected = Set((Self.ruleAppendable.union(Self.ruleReplaceable)).filter { item[$0] != nil })
            func take(_ key: String, _ set: Set<String>, _ kind: String) throws -> Bool {
                guard set.contains(key) else { return false }
                guard expected.contains(key) else {
                    throw fail("An \(kind) override for '\(key)' was specified but '\(key)' is not defined", ctx)
                }
                expected.remove(key)
                return true
            }
            if !overAppend.isEmpty {
                var u = RuleUpdate(name: name, context: ctx)
                u.source = source
                if try take("condition", overAppend, "append") { u.condition = try decodeText(item, "condition", ctx: ctx, file: file) }
                if try take("exceptions", overAppend, "append") { u.exceptions = try readExceptions(item, ctx: ctx, file: file, append: true) }
                if try take("output", overAppend, "append") { u.output = try decodeText(item, "output", ctx: ctx, file: file) }
                if try take("desc", overAppend, "append") { u.desc = try decodeString(item, "desc", ctx: ctx, file: file) }
                if try take("tags", overAppend, "append") { u.tags = try decodeTags(item, ctx: ctx, file: file) }
                try appendRule(u)
            }
            if !overReplace.isEmpty {
                var u = RuleUpdate(name: name, context: ctx)
                u.source = source
                if try take("condition", overReplace, "replace") { u.condition = try decodeText(item, "condition", ctx: ctx, file: file) }
                if try take("exceptions", overReplace, "replace") { u.exceptions = try readExceptions(item, ctx: ctx, file: file, append: false) }
                if try take("output", overReplace, "replace") { u.output = try decodeText(item, "output", ctx: ctx, file: file) }
                if try take("desc", overReplace, "replace") { u.desc = try decodeString(item, "desc", ctx: ctx, file: file) }
                if try take("tags", overReplace, "replace") { u.tags = try decodeTags(item, ctx: ctx, file: file) }
                if try take("priority", overReplace, "replace") { u.priority = try decodePriority(item, ctx: ctx, file: file) }
                if try take("enabled", overReplace, "replace") { u.enabled = try decodeBool(item, "enabled", ctx: ctx, file: file) }
                if try take("warn_evttypes", overReplace, "replace") { u.warnEvttypes = try decodeBool(item, "warn_evttypes", ctx: ctx, file: file) }
                if try take("skip-if-unknown-filter", overReplace, "replace") {
                    u.skipIfUnknownFilter = try decodeBool(item, "skip-if-unknown-filter", ctx: ctx, file: file)
                }
                if try take("capture", overReplace, "replace") { u.capture = try decodeBool(item, "capture", ctx: ctx, file: file) }
                if try take("capture_duration", overReplace, "replace") { u.captureDuration = try decodeUInt(item, "capture_duration", ctx: ctx, file: file) }
                try replaceRule(u)
            }
            if let key = expected.sorted().first {
                let node = item[key] ?? item
                throw fail("Unexpected key '\(key)': no corresponding entry under 'override' is defined.",
                           ctx + [loc(file, node, .override, key)])
            }
            return
        }
        if appendFlag {
            var u = RuleUpdate(name: name, context: ctx)
            u.source = source
            if item["condition"] != nil { u.condition = try decodeText(item, "condition", ctx: ctx, file: file) }
            if item["exceptions"] != nil { u.exceptions = try readExceptions(item, ctx: ctx, file: file, append: true) }
            guard u.condition != nil || u.exceptions != nil else {
                throw fail("Appended rule must have exceptions or condition property", ctx, .validate)
            }
            try appendRule(u)
            return
        }
        if item["condition"] == nil && item["output"] == nil && item["desc"] == nil && item["priority"] == nil {
            // Only `enabled`: switches an earlier rule on or off (deprecated form).
            let enabled = try decodeBool(item, "enabled", required: true, ctx: ctx, file: file) ?? true
            report.warning(.deprecatedItem, Self.warningEnabled, ctx)
            guard let prev = rules[name] else {
                throw fail("Rule has 'enabled' key but no rule by that name already exists", ctx, .validate)
            }
            prev.enabled = enabled
            return
        }
        let cond = try decodeText(item, "condition", ctx: ctx, file: file)
        let condCtx = ctx + [loc(file, item["condition"]!, .ruleCondition)]
        var output = try decodeText(item, "output", ctx: ctx, file: file)
        output.text = output.text.trimmingCharacters(in: " \t\n\r")
        let outputCtx = ctx + [loc(file, item["output"]!, .ruleOutput)]
        let desc = try decodeString(item, "desc", ctx: ctx, file: file)
        let priority = try decodePriority(item, ctx: ctx, file: file)
        let rule = RuleInfo(
            name: name, condition: cond, output: output, desc: desc, priority: priority, source: source ?? "syscall",
            enabled: try decodeBool(item, "enabled", ctx: ctx, file: file) ?? true,
            warnEvttypes: try decodeBool(item, "warn_evttypes", ctx: ctx, file: file) ?? true,
            skipIfUnknownFilter: try decodeBool(item, "skip-if-unknown-filter", ctx: ctx, file: file) ?? false,
            tags: try decodeTags(item, ctx: ctx, file: file) ?? [],
            exceptions: try readExceptions(item, ctx: ctx, file: file, append: false),
            capture: try decodeBool(item, "capture", ctx: ctx, file: file) ?? false,
            captureDuration: try decodeUInt(item, "capture_duration", ctx: ctx, file: file) ?? 0,
            context: ctx, conditionContext: condCtx, outputContext: outputCtx)
        try defineRule(rule)
    }

    // MARK: - Collector operations

    mutating func defineRule(_ info: RuleInfo) throws {
        let prev = rules[info.name]
        if let prev, prev.source != info.source {
            throw fail("Rule has been re-defined with a different source", info.context, .validate)
        }
        if !config.sources.contains(info.source) {
            info.unknownSource = true
            report.warning(.unknownSource, "Unknown source \(info.source), skipping", info.context)
        }
        for ex in info.exceptions {
            guard ex.fields != nil else {
                throw fail("Rule exception item must have fields property with a list of fields", ex.context, .validate)
            }
        }
        if !info.unknownSource {
            for i in info.exceptions.indices { try validateException(&info.exceptions[i]) }
        }
        if let prev {
            info.index = prev.index
            info.visibility = nextIndex
            rules.replace(prev, with: info)
        } else {
            info.index = nextIndex
            info.visibility = nextIndex
            rules.insert(info, name: info.name)
        }
        nextIndex += 1
    }

    func checkSource(_ u: RuleUpdate, _ prev: RuleInfo) throws {
        if let s = u.source, !s.isEmpty, s != prev.source {
            throw fail("Rule has been re-defined with a different source", u.context, .validate)
        }
    }

    mutating func appendRule(_ u: RuleUpdate) throws {
        guard let prev = rules[u.name] else {
            throw fail("Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists", u.context, .validate)
        }
        try checkSource(u, prev)
        guard u.hasAnyValue else { throw fail("Appended rule must have exceptions or condition property", u.context, .validate) }
        if let c = u.condition, !c.text.isEmpty { prev.condition.append(c) }
        if let o = u.output, !o.text.isEmpty { prev.output.append(o) }
        if let d = u.desc, !d.isEmpty { prev.desc += " " + d }
        if let t = u.tags { prev.tags.formUnion(t) }
        if let exs = u.exceptions {
            for var ex in exs {
                if let i = prev.exceptions.firstIndex(where: { $0.name == ex.name }) {
                    if ex.fields != nil {
                        throw fail("Can not append exception fields to existing exception, only values", ex.context, .validate)
                    }
                    if ex.comps != nil {
                        throw fail("Can not append exception comps to existing exception, only values", ex.context, .validate)
                    }
                    prev.exceptions[i].values += ex.values
                } else {
                    guard ex.fields != nil else {
                        throw fail("Rule exception must have fields property with a list of fields", ex.context, .validate)
                    }
                    guard !ex.values.isEmpty else {
                        throw fail("Rule exception must have values property with a list of values", ex.context, .validate)
                    }
                    if !prev.unknownSource { try validateException(&ex) }
                    prev.exceptions.append(ex)
                }
            }
        }
        prev.visibility = nextIndex
        nextIndex += 1
    }

    mutating func replaceRule(_ u: RuleUpdate) throws {
        guard let prev = rules[u.name] else {
            throw fail("An 'override.<key>: replace' to a rule was requested but no rule by that name already exists", u.context, .validate)
        }
        try checkSource(u, prev)
        guard u.hasAnyValue else { throw fail("The rule must have at least one field that can be replaced", u.context, .validate) }
        if let c = u.condition { prev.condition = c }
        if var o = u.output { o.text = o.text.trimmingCharacters(in: " \t\n\r"); prev.output = o }
        if let d = u.desc { prev.desc = d }
        if let t = u.tags { prev.tags = t }
        if var exs = u.exceptions {
            if !prev.unknownSource { for i in exs.indices { try validateException(&exs[i]) } }
            prev.exceptions = exs
        }
        if let p = u.priority { prev.priority = p }
        if let e = u.enabled { prev.enabled = e }
        if let w = u.warnEvttypes { prev.warnEvttypes = w }
        if let s = u.skipIfUnknownFilter { prev.skipIfUnknownFilter = s }
        if let c = u.capture { prev.capture = c }
        if let d = u.captureDuration { prev.captureDuration = d }
        prev.visibility = nextIndex
        nextIndex += 1
    }

    /// Falco's validate_exception_info: default comps, equal lengths, known operators and fields.
    func validateException(_ ex: inout ExceptionInfo) throws {
        guard let fields = ex.fields else { return }
        if fields.isList {
            if ex.comps == nil { ex.comps = .list(fields.items.map { _ in .item("=") }) }
            guard let comps = ex.comps, comps.isList, comps.items.count == fields.items.count else {
                throw fail("Fields and comps lists must have equal length", ex.context, .validate)
            }
            var normalized: [ExceptionEntry] = []
            for c in comps.items {
                let op = Self.normalizeComp(c.scalar ?? "")
                guard Self.isSupportedComp(op) else {
                    throw fail("'\(op)' is not a supported comparison operator", ex.context, .validate)
                }
                normalized.append(.item(op))
            }
            ex.comps = .list(normalized)
            for f in fields.items {
                let name = f.scalar ?? ""
                guard config.isFieldDefined(name) else {
                    throw fail("'\(name)' is not a supported filter field", ex.context, .validate)
                }
            }
        } else {
            if ex.comps == nil { ex.comps = .item("in") }
            guard let comps = ex.comps, !comps.isList else { throw fail("Fields and comps must both be strings", ex.context, .validate) }
            let op = Self.normalizeComp(comps.scalar ?? "")
            guard op == "in" || op == "pmatch" || op == "intersects" else {
                throw fail("When fields is a single value, comps must be one of (in, pmatch, intersects)", ex.context, .validate)
            }
            ex.comps = .item(op)
            guard config.isFieldDefined(fields.scalar ?? "") else {
                throw fail("'\(fields.scalar ?? "")' is not a supported filter field", ex.context, .validate)
            }
        }
    }

    static func normalizeComp(_ s: String) -> String {
        s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).joined(separator: " ")
    }

    /// A comparison operator as exception comps may spell it, modifiers included (`startswith oneof`).
    static func isSupportedComp(_ op: String) -> Bool {
        let parts = op.split(separator: " ")
        if parts.count == 1 { return Operator.all.contains(String(parts[0])) }
        guard parts.count == 2, Operator.Modifier(rawValue: String(parts[1])) != nil else { return false }
        return Operator.string.contains(String(parts[0]))
    }

    // MARK: - Exceptions

    mutating func readExceptions(_ item: YAMLNode, ctx: [Location], file: String, append: Bool) throws -> [ExceptionInfo] {
        guard let exs = item["exceptions"], !exs.isNull else { return [] }
        let exsCtx = ctx + [loc(file, exs, .exceptions)]
        guard let seq = exs.sequence else { throw fail("Rule exceptions must be a sequence", exsCtx) }
        var out: [ExceptionInfo] = []
        for ex in seq {
            let tmp = exsCtx + [loc(file, ex, .exception)]
            guard ex.mapping != nil else { throw fail("Rule exception must be a mapping", tmp) }
            let name = try decodeString(ex, "name", ctx: tmp, file: file)
            let exCtx = ctx + [loc(file, ex, .exception, name)]
            var info = ExceptionInfo(name: name, fields: nil, comps: nil, values: [], context: exCtx)
            if out.contains(where: { $0.name == name }) {
                report.warning(.exceptionNameNotUnique, "Multiple definitions of exception '\(name)' in the same rule", exCtx)
            }
            if let f = ex["fields"] {
                info.fields = try decodeEntry(f, ctx: exCtx, file: file, key: "fields")
            } else if !append {
                throw fail("Item has no mapping for key 'fields'", exCtx)
            }
            if let c = ex["comps"] { info.comps = try decodeEntry(c, ctx: exCtx, file: file, key: "comps") }
            if let vals = ex["values"] {
                let vctx = exCtx + [loc(file, vals, .exceptionValues)]
                guard let vseq = vals.sequence else { throw fail("Rule exception values must be a sequence", vctx) }
                for v in vseq { info.values.append(try decodeEntry(v, ctx: vctx + [loc(file, v, .exceptionValue)], file: file, key: nil)) }
            } else if append {
                report.warning(.appendNoValues, "Overriding/appending exception with no values", exCtx)
            }
            out.append(info)
        }
        return out
    }

    func decodeEntry(_ node: YAMLNode, ctx: [Location], file: String, key: String?) throws -> ExceptionEntry {
        if let s = node.scalar {
            if s.isEmpty && node.scalarStyle == .plain {
                throw fail(key.map { "Mapping for key '\($0)' is empty" } ?? "Value must be non-empty", ctx)
            }
            return .item(s)
        }
        if let items = node.sequence {
            return .list(try items.map { try decodeEntry($0, ctx: ctx + [loc(file, $0, .exception)], file: file, key: nil) })
        }
        throw fail("Value is not a scalar or a sequence", ctx + [loc(file, node, .valueFor, key ?? "")])
    }

    // MARK: - Scalar decoding (Falco decode_val)

    func scalarNode(_ item: YAMLNode, _ key: String, required: Bool, ctx: [Location], file: String) throws -> YAMLNode? {
        guard let val = item[key] else {
            if required { throw fail("Item has no mapping for key '\(key)'", ctx) }
            return nil
        }
        if val.isNull { throw fail("Mapping for key '\(key)' is empty", ctx) }
        let vctx = ctx + [loc(file, val, .valueFor, key)]
        guard let s = val.scalar else { throw fail("Value is not a scalar value", vctx) }
        if s.isEmpty { throw fail("Value must be non-empty", vctx) }
        return val
    }

    func decodeString(_ item: YAMLNode, _ key: String, ctx: [Location], file: String) throws -> String {
        try scalarNode(item, key, required: true, ctx: ctx, file: file)!.scalar!
    }

    /// A scalar with where it came from (conditions and outputs, whose inner positions matter).
    func decodeText(_ item: YAMLNode, _ key: String, ctx: [Location], file: String) throws -> OriginText {
        let node = try scalarNode(item, key, required: true, ctx: ctx, file: file)!
        return OriginText(node.scalar!, origin: ScalarOrigin(file: file, start: node.start, style: node.scalarStyle ?? .plain))
    }

    func decodeOptionalSource(_ item: YAMLNode, ctx: [Location], file: String) throws -> String? {
        guard let val = item["source"] else { return nil }
        if val.isNull { return nil }
        guard let s = val.scalar else { throw fail("Value is not a scalar value", ctx + [loc(file, val, .valueFor, "source")]) }
        return s.isEmpty ? nil : s
    }

    func decodeBool(_ item: YAMLNode, _ key: String, required: Bool = false, ctx: [Location], file: String) throws -> Bool? {
        guard let val = try scalarNode(item, key, required: required, ctx: ctx, file: file) else { return nil }
        switch val.scalar! {
        case "y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON": return true
        case "n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF": return false
        default: throw fail("Can't decode YAML scalar value", ctx + [loc(file, val, .valueFor, key)])
        }
    }

    func decodeUInt(_ item: YAMLNode, _ key: String, ctx: [Location], file: String) throws -> UInt64? {
        guard let val = try scalarNode(item, key, required: false, ctx: ctx, file: file) else { return nil }
        guard let n = UInt64(val.scalar!) else { throw fail("Can't decode YAML scalar value", ctx + [loc(file, val, .valueFor, key)]) }
        return n
    }

    func decodePriority(_ item: YAMLNode, ctx: [Location], file: String) throws -> Priority {
        let node = try scalarNode(item, "priority", required: true, ctx: ctx, file: file)!
        guard let p = Priority(name: node.scalar!) else {
            throw fail("Invalid priority", ctx + [loc(file, node, .rulePriority)])
        }
        return p
    }

    func decodeItems(_ item: YAMLNode, ctx: [Location], file: String) throws -> [String] {
        guard let val = item["items"] else { throw fail("Item has no mapping for key 'items'", ctx) }
        let vctx = ctx + [loc(file, val, .valueFor, "items")]
        if val.isNull { return [] }
        guard let seq = val.sequence else { throw fail("Value is not a sequence", vctx) }
        return try seq.map { v in
            guard let s = v.scalar else { throw fail("sequence value is not scalar", vctx + [loc(file, v, .listItem)]) }
            return s
        }
    }

    func decodeTags(_ item: YAMLNode, ctx: [Location], file: String) throws -> Set<String>? {
        guard let val = item["tags"] else { return nil }
        let vctx = ctx + [loc(file, val, .valueFor, "tags")]
        if val.isNull { return [] }
        guard let seq = val.sequence else { throw fail("Value is not a sequence", vctx) }
        var out = Set<String>()
        for v in seq {
            guard let s = v.scalar else { throw fail("sequence value is not scalar", vctx + [loc(file, v, .listItem)]) }
            out.insert(s)
        }
        return out
    }

    func decodeOverrides(_ item: YAMLNode, appendable: Set<String>, replaceable: Set<String>, ctx: [Location],
                         file: String) throws -> (append: Set<String>, replace: Set<String>) {
        guard let node = item["override"] else { return ([], []) }
        let octx = ctx + [loc(file, node, .override)]
        guard let entries = node.mapping else { throw fail("Value of override must be a mapping", octx) }
        var a = Set<String>(), r = Set<String>()
        for (k, v) in entries {
            let key = k.scalar ?? ""
            let op = v.scalar ?? ""
            let kctx = octx + [loc(file, k, .override, key)]
            switch op {
            case "append":
                guard appendable.contains(key) else { throw fail("Key '\(key)' cannot be appended to, use 'replace' instead", kctx) }
                a.insert(key)
            case "replace":
                guard replaceable.contains(key) else { throw fail("Key '\(key)' cannot be replaced", kctx) }
                r.insert(key)
            default:
                var allowed = ""
                if appendable.contains(key) { allowed += "append " }
                if replaceable.contains(key) { allowed += "replace " }
                throw fail("Invalid override operation for key '\(key)': '\(op)'. Allowed values are: \(allowed)",
                           octx + [loc(file, v, .valueFor, key)])
            }
        }
        return (a, r)
    }

    // MARK: - Names and messages

    static func isIdentifier(_ s: String) -> Bool {
        guard let f = s.utf8.first, ConditionParser.isAlpha(f) else { return false }
        return s.utf8.allSatisfy(ConditionParser.isIdentChar)
    }

    static func isBareString(_ s: String) -> Bool {
        !s.isEmpty && s.utf8.allSatisfy { c in
            !(ConditionParser.isSpace(c) || c == 0x28 || c == 0x29 || c == 0x22 || c == 0x27 || c == 0x3d || c == 0x2c)
        }
    }

    static let warningAppend = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
    static let warningEnabled = "The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace')."
    static let errorOverrideAppend = "Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
}

extension Indexed {
    /// Replaces `old` (found by identity) with `new`, keeping its position.
    mutating func replace(_ old: T, with new: T) where T == RuleInfo {
        guard let i = items.firstIndex(where: { $0 === old }) else { return }
        replaceItem(at: i, with: new)
    }
}
