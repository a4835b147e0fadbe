import Glibc
import LannerCore
import LannerYAML

/// Stage 3 of loading: lists are expanded, macros resolved, exceptions appended, and each rule's condition
/// type-checked into a `Condition` and its output into an `OutputFormat`. Every problem is reported; a rule
/// with an error is left out, the others are kept.
struct RuleCompiler {
    let config: RuleLoader.Configuration
    var collector: RuleCollector
    var report: LoadReport { get { collector.report } set { collector.report = newValue } }

    /// Every text conditions were parsed from, by `Pos.text`, with the context to report problems in.
    var texts: [(text: OriginText, context: [Location])] = []
    var compiledLists: [String: [String]] = [:]
    var usedLists = Set<String>()
    var usedMacros = Set<String>()
    var macroASTs: [String: Expr] = [:]
    var failedMacros = Set<String>()
    var resolvedMacros: [String: Expr] = [:]

    init(config: RuleLoader.Configuration, collector: RuleCollector) {
        self.config = config
        self.collector = collector
    }

    // MARK: - Driver

    mutating func compile() -> (rules: [CompiledRule], macros: [CompiledMacro], lists: [CompiledList]) {
        compileLists()
        compileMacros()
        var rules: [CompiledRule] = []
        for info in collector.rules.items.sorted(by: { $0.index < $1.index }) where !info.unknownSource {
            if let r = compileRule(info) { rules.append(r) }
        }
        var macros: [CompiledMacro] = []
        for m in collector.macros.items {
            if !usedMacros.contains(m.name) {
                report.warning(.unusedMacro, "Macro not referred to by any other rule/macro", m.context)
            }
            macros.append(CompiledMacro(name: m.name, condition: m.condition.text,
                                        expanded: resolvedMacros[m.name].map(ConditionPrinter.string), used: usedMacros.contains(m.name)))
        }
        var lists: [CompiledList] = []
        for l in collector.lists.items {
            if !usedLists.contains(l.name) {
                report.warning(.unusedList, "List not referred to by any other rule/macro", l.context)
            }
            lists.append(CompiledList(name: l.name, items: compiledLists[l.name] ?? l.items, used: usedLists.contains(l.name),
                                      references: l.items.filter { ref in
                                          collector.lists[ref].map { $0.index < l.visibility } ?? false
                                      }))
        }
        return (rules, macros, lists)
    }

    // MARK: - Lists

    mutating func compileLists() {
        for l in collector.lists.items {
            var seen: Set<String> = [l.name]
            compiledLists[l.name] = expandList(l, seen: &seen)
        }
    }

    /// Items of `l` with every item that names an earlier-visible list replaced by that list's items.
    mutating func expandList(_ l: ListInfo, seen: inout Set<String>) -> [String] {
        var out: [String] = []
        for item in l.items {
            if let ref = collector.lists[item], ref.index < l.visibility, !seen.contains(item) {
                usedLists.insert(item)
                seen.insert(item)
                out += expandList(ref, seen: &seen)
                seen.remove(item)
            } else {
                out.append(item)
            }
        }
        return out
    }

    // MARK: - Texts and positions

    mutating func register(_ text: OriginText, context: [Location]) -> Int32 {
        texts.append((text, context))
        return Int32(texts.count - 1)
    }

    /// The context chain for a position inside a registered text.
    func context(at pos: Pos, kind: Location.Kind = .conditionExpression) -> [Location] {
        guard pos.text >= 0, Int(pos.text) < texts.count else { return [] }
        let (text, ctx) = texts[Int(pos.text)]
        guard let (origin, inner) = text.resolve(Int(pos.offset)) else { return ctx }
        let mapper = SourceMapper(sources: report.sources)
        let (line, column) = mapper.locate(origin, offset: inner)
        return ctx + [Location(file: origin.file, line: line, column: column, kind: kind)]
    }

    // MARK: - Parsing with lists expanded

    /// Parses a registered text and expands list names in it. Nil (with an error reported) on failure.
    mutating func parse(_ id: Int32) -> Expr? {
        var text = texts[Int(id)].text.text
        // A list whose name cannot be written as a bare value (`test list`) is only reachable the way Falco
        // does it everywhere: by substituting the text before parsing.
        for l in collector.lists.items where !RuleCollector.isBareString(l.name) {
            if let replaced = Self.substituteText(text, name: l.name, items: compiledLists[l.name] ?? l.items) {
                text = replaced
                usedLists.insert(l.name)
            }
        }
        do {
            let e = try ConditionParser.parse(text, textID: id)
            return expandLists(e)
        } catch {
            report.error(.compileCondition, error.message, context(at: Pos(text: id, offset: Int32(error.offset))))
            return nil
        }
    }

    func listItems(_ name: String) -> [String]? { compiledLists[name] }

    /// Falco's resolve_list: replaces `name` delimited by blanks, parentheses, commas or `=` with the items.
    static func substituteText(_ text: String, name: String, items: [String]) -> String? {
        let delims: Set<Character> = [" ", "\t", "\n", "\r", "(", ")", ",", "="]
        var out = text
        var searchFrom = out.startIndex
        var changed = false
        while let r = out[searchFrom...].firstRange(of: name) {
            let before = r.lowerBound == out.startIndex ? nil : out[out.index(before: r.lowerBound)]
            let after = r.upperBound == out.endIndex ? nil : out[r.upperBound]
            guard before.map(delims.contains) ?? true, after.map(delims.contains) ?? true else {
                searchFrom = out.index(after: r.lowerBound)
                continue
            }
            let sub = items.map { $0.contains(" ") && !$0.hasPrefix("\"") && !$0.hasPrefix("'") ? "\"" + $0 + "\"" : $0 }
                .joined(separator: ", ")
            let offset = out.distance(from: out.startIndex, to: r.lowerBound) + sub.count
            out.replaceSubrange(r, with: sub)
            searchFrom = out.index(out.startIndex, offsetBy: min(offset, out.count))
            changed = true
        }
        return changed ? out : nil
    }

    /// Replaces bare (unquoted) list names in values with the lists' items.
    mutating func expandLists(_ e: Expr) -> Expr {
        switch e {
        case .and(let cs, let p): return .and(cs.map { expandLists($0) }, p)
        case .or(let cs, let p): return .or(cs.map { expandLists($0) }, p)
        case .not(let c, let p): return .not(expandLists(c), p)
        case .identifier, .unary: return e
        case .binary(let o, let op, let v, let p):
            switch v {
            case .list(let items, let lp):
                var out: [ListItem] = []
                for item in items {
                    if !item.quoted, let expanded = listItems(item.value) {
                        usedLists.insert(item.value)
                        out += expanded.map { Self.listValue($0, pos: item.pos) }
                    } else {
                        out.append(item)
                    }
                }
                return .binary(o, op: op, rhs: .list(out, lp), p)
            case .single(let s, false, let sp):
                guard let expanded = listItems(s) else { return e }
                usedLists.insert(s)
                if op.isListOperator || op.modifier != nil {
                    return .binary(o, op: op, rhs: .list(expanded.map { Self.listValue($0, pos: sp) }, sp), p)
                }
                if expanded.count == 1 {
                    let v = Self.listValue(expanded[0], pos: sp)
                    return .binary(o, op: op, rhs: .single(v.value, quoted: v.quoted, sp), p)
                }
                // Falco substitutes the text and fails to parse; say why instead.
                return .binary(o, op: op, rhs: .single("\u{0}list:\(s):\(expanded.count)", quoted: true, sp), p)
            default:
                return e
            }
        }
    }

    /// A list item as the condition text Falco substitutes it: an item written with quotes in it
    /// (`'"10.0.0.0/8"'`) is a quoted string token, unescaped; an item with a blank is quoted.
    static func listValue(_ item: String, pos: Pos) -> ListItem {
        let u = Array(item.utf8)
        if u.count >= 2, let q = u.first, q == 0x22 || q == 0x27, u.last == q, let v = Escaping.unescape(u) {
            return ListItem(v, quoted: true, pos: pos)
        }
        return ListItem(item, quoted: item.contains(" "), pos: pos)
    }

    // MARK: - Macros

    mutating func compileMacros() {
        for m in collector.macros.items {
            let id = register(m.condition, context: m.conditionContext)
            if let ast = parse(id) { macroASTs[m.name] = ast } else { failedMacros.insert(m.name) }
        }
        for m in collector.macros.items where macroASTs[m.name] != nil {
            var stack: [String] = [m.name]
            if let r = resolve(macroASTs[m.name]!, visibility: m.visibility, stack: &stack, context: m.context) {
                resolvedMacros[m.name] = r
            } else {
                failedMacros.insert(m.name)
            }
        }
    }

    /// Replaces macro references with their (resolved) conditions. Only macros defined before `visibility`
    /// are visible (rules see all). Nil when a reference is undefined, failed, or loops (reported).
    mutating func resolve(_ e: Expr, visibility: Int, stack: inout [String], context ctx: [Location]) -> Expr? {
        switch e {
        case .and(let cs, let p):
            var out: [Expr] = []
            for c in cs { guard let r = resolve(c, visibility: visibility, stack: &stack, context: ctx) else { return nil }; out.append(r) }
            return .and(out, p)
        case .or(let cs, let p):
            var out: [Expr] = []
            for c in cs { guard let r = resolve(c, visibility: visibility, stack: &stack, context: ctx) else { return nil }; out.append(r) }
            return .or(out, p)
        case .not(let c, let p):
            return resolve(c, visibility: visibility, stack: &stack, context: ctx).map { .not($0, p) }
        case .identifier(let name, let p):
            guard let m = collector.macros[name], m.index < visibility else {
                report.error(.validate, "Undefined macro '\(name)' used in filter.", context(at: p))
                return nil
            }
            usedMacros.insert(name)
            if failedMacros.contains(name) { return nil }   // its own error is reported
            if stack.contains(name) {
                // Reported in the item being compiled (the macro or rule whose resolution ran into the loop).
                let at = context(at: p).last.map { [$0] } ?? []
                report.error(.validate, "reference loop in macro '\(name)' (\((stack + [name]).joined(separator: " → ")))", ctx + at)
                return nil
            }
            if let done = resolvedMacros[name] { return done }
            guard let ast = macroASTs[name] else { return nil }
            stack.append(name)
            defer { stack.removeLast() }
            return resolve(ast, visibility: visibility, stack: &stack, context: ctx)
        case .unary, .binary:
            return e
        }
    }

    // MARK: - Rules

    mutating func compileRule(_ r: RuleInfo) -> CompiledRule? {
        // Output first, as Falco does.
        let outID = register(r.output, context: r.outputContext)
        let output: OutputFormat
        switch OutputFormat.parse(r.output.text, catalog: config.catalog) {
        case .success(let f): output = f
        case .failure(let f):
            let ctx = context(at: Pos(text: outID, offset: Int32(f.offset)), kind: .outputExpression)
            if f.unknownField && r.skipIfUnknownFilter {
                report.warning(.unknownFilter, f.message, ctx)
            } else {
                report.error(.compileOutput, f.message, ctx)
            }
            return nil
        }
        if r.output.text.contains("evt.dir") {
            report.warning(.deprecatedItem, "usage of deprecated field 'evt.dir' has been detected in the rule output", r.outputContext)
        }

        var condition = r.condition
        var exceptionFields = Set<String>()
        if !r.exceptions.isEmpty {
            guard let text = buildExceptions(r, exceptionFields: &exceptionFields) else { return nil }
            condition = text
        }
        let condID = register(condition, context: r.conditionContext)
        guard let parsed = parse(condID) else { return nil }
        var stack: [String] = []
        guard let expanded = resolve(parsed, visibility: Int.max, stack: &stack, context: r.context) else { return nil }

        // Problems inside a macro are reported in the rule that uses it, with the macro's position.
        let compiler = self
        let ruleContext = r.context
        var checker = ConditionChecker(config: config) { pos in
            let inner = compiler.context(at: pos)
            if inner.contains(where: { $0.kind == .rule && $0.name == r.name }) { return inner }
            return ruleContext + inner.filter { $0.kind != .rulesContent }.map { l in
                var l = l
                if l.kind == .macro { l.kind = .macroUsed }
                return l
            }
        }
        let typed = checker.check(expanded)
        for w in checker.warnings { report.warning(w.code, w.message, w.context) }
        if let err = checker.error {
            if err.unknown && r.skipIfUnknownFilter {
                report.warning(.unknownFilter, err.message, err.context)
            } else {
                report.error(.compileCondition, err.message, err.context)
            }
            return nil
        }
        guard let typed else { return nil }

        let types = EventTypeResolver.resolve(typed)
        if types.count > 100 && r.warnEvttypes {
            report.warning(.noEventType, "Rule matches too many evt.type values. This has a significant performance penalty.", r.context)
        }
        var unsupported: [String] = []
        for f in checker.usedFields where !config.isSupported(f) && !unsupported.contains(f.description) {
            unsupported.append(f.description)
        }
        if !unsupported.isEmpty {
            report.warning(.unsupportedField,
                           "Rule needs \(unsupported.count == 1 ? "field" : "fields") \(unsupported.map { "'\($0)'" }.joined(separator: ", ")) "
                               + "that Lanner does not supply yet; the rule is loaded but cannot fire", r.context)
        }
        return CompiledRule(
            name: r.name, description: r.desc, priority: r.priority, source: r.source, tags: r.tags.sorted(),
            enabled: r.enabled, condition: typed, expandedCondition: expanded, conditionText: r.condition.text,
            outputText: r.output.text, output: output, eventTypes: types, unsupportedFields: unsupported,
            warnEvttypes: r.warnEvttypes, skipIfUnknownFilter: r.skipIfUnknownFilter, capture: r.capture,
            captureDuration: r.captureDuration, exceptionFields: exceptionFields.sorted(), index: r.index)
    }

    // MARK: - Exceptions

    /// Falco's build_rule_exception_infos: the condition text followed by `and not (...)` per exception.
    mutating func buildExceptions(_ r: RuleInfo, exceptionFields: inout Set<String>) -> OriginText? {
        func quote(_ s: String) -> String {
            (s.contains(" ") && !s.hasPrefix("\"") && !s.hasPrefix("'")) ? "\"" + s + "\"" : s
        }
        func paren(_ s: String) -> String { s.hasPrefix("(") ? s : "(" + s + ")" }
        var text = OriginText("(", origin: nil)
        text.concat(r.condition)
        text.concat(OriginText(")", origin: nil))
        for ex in r.exceptions {
            guard let fields = ex.fields else { continue }
            var icond = ""
            if !fields.isList {
                let field = fields.scalar ?? ""
                let comp = ex.comps?.scalar ?? "in"
                for v in ex.values {
                    guard let item = v.scalar else {
                        report.error(.validate, "Expected values array to contain a list of strings", ex.context)
                        return nil
                    }
                    icond += icond.isEmpty ? "(\(field) \(comp) (" : ", "
                    exceptionFields.insert(field)
                    icond += quote(item)
                }
                if !icond.isEmpty { icond += "))" }
            } else {
                let comps = ex.comps?.items.map { $0.scalar ?? "=" } ?? fields.items.map { _ in "=" }
                icond = "("
                for values in ex.values {
                    let vs = values.isList ? values.items : [values]
                    guard vs.count == fields.items.count else {
                        report.error(.validate, "Fields and values lists must have equal length", ex.context)
                        return nil
                    }
                    icond += icond == "(" ? "" : " or "
                    icond += "("
                    for (k, f) in fields.items.enumerated() {
                        icond += k == 0 ? "" : " and "
                        let comp = k < comps.count ? comps[k] : "="
                        var value: String
                        if vs[k].isList {
                            value = "(" + vs[k].items.map { quote($0.scalar ?? "") }.joined(separator: ", ") + ")"
                        } else {
                            value = vs[k].scalar ?? ""
                            // List operators, and operators with a list modifier (`startswith oneof`), take a list.
                            let takesList = Operator.list.contains(comp) || comp.split(separator: " ").count == 2
                            value = takesList ? paren(value) : quote(value)
                        }
                        icond += " \(f.scalar ?? "") \(comp) \(value)"
                        exceptionFields.insert(f.scalar ?? "")
                    }
                    icond += ")"
                }
                icond += ")"
                if icond == "()" { icond = "" }
            }
            if !icond.isEmpty {
                let origin = ex.context.last.map {
                    ScalarOrigin(file: $0.file, start: Mark(line: $0.line, column: $0.column, offset: 0), style: .plain, fixed: true)
                }
                text.concat(OriginText(" and not " + icond, origin: origin))
            }
        }
        return text
    }
}

extension OriginText {
    /// Appends without a separator.
    mutating func concat(_ other: OriginText) {
        let base = text.utf8.count
        text += other.text
        for s in other.segments { segments.append(Segment(start: base + s.start, origin: s.origin)) }
    }
}
