import Glibc
import LannerCore
import LannerYAML

/// Stage 3 of loading: lists are expanded, macros resolved, exceptions appended, and each rule's condition
/// type-checked into a `Condition` and its output into an `OutputFormat`. Every problem is reported; a rule
/// with an error is left out, the others are kept.
struct RuleCompiler {
    let config: RuleLoader.Configuration
    var collector: RuleCollector
    /// The collector's report, moved here: a stored property, so that appending a diagnostic does not copy
    /// all the earlier ones (through a computed property's get and set, each append did).
    var report: LoadReport

    /// Every text conditions were parsed from, by `Pos.text`, with the context to report problems in.
    var texts: [(text: OriginText, context: [Location])] = []
    var compiledLists: [String: [String]] = [:]
    /// Lists whose expansion crossed a limit (reported); conditions naming them fail silently.
    var failedLists = Set<String>()
    /// Compiled lists whose expansion met no loop (see `expandList`).
    var acyclicLists = Set<String>()
    /// What the compiled lists, macros and rules add up to (`Limits.totalSize`), and whether it was exceeded.
    var totalSize = 0
    var totalExceeded = false
    var usedLists = Set<String>()
    var usedMacros = Set<String>()
    var macroASTs: [String: Expr] = [:]
    var failedMacros = Set<String>()
    var resolvedMacros: [String: Expansion] = [:]
    let operandCache = ConditionChecker.OperandCache()

    /// Positions inside conditions → file lines; every file was read before compiling starts.
    let mapper: SourceMapper

    init(config: RuleLoader.Configuration, collector: RuleCollector) {
        self.config = config
        self.collector = collector
        report = collector.report
        self.collector.report = LoadReport()
        mapper = SourceMapper(sources: report.sources)
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
                                        expanded: resolvedMacros[m.name].map { ConditionPrinter.string($0.expr) },
                                        used: usedMacros.contains(m.name)))
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

    /// Expands every list, in definition order. A list whose expansion is past `Limits.listItems` is
    /// reported and failed; so is every list after the load-wide budget is spent.
    mutating func compileLists() {
        let limit = config.limits.listItems
        for l in collector.lists.items {
            switch expandList(l) {
            case .success(let out):
                guard charge(out.count, context: l.context) else {
                    failedLists.insert(l.name)
                    continue
                }
                compiledLists[l.name] = out
            case .failure(.tooLarge(let items)):
                failedLists.insert(l.name)
                let what = items > limit ? "\(limit) items" : "\(Self.referenceFactor * limit) references to other lists"
                report.error(.validate, "list expansion exceeds \(what) once the lists it names are expanded", l.context)
            case .failure(.failedDependency):
                failedLists.insert(l.name)   // the list it names is reported
            }
        }
    }

    enum ListFailure: Error {
        /// Past a limit, with how many items it had then.
        case tooLarge(items: Int)
        /// Names a list that failed (reported there).
        case failedDependency
    }

    enum ExpansionFailure: Error {
        /// Past a limit (reported where it was found).
        case tooLarge
        /// Names a list or macro that failed (reported there).
        case failedDependency
    }

    /// How many list references an expansion may follow, per item it may have: enough that a list that is
    /// too large is reported for its items, while lists of empty lists cannot make the work unbounded.
    static let referenceFactor = 4

    /// The items of `root`, with every item that names an earlier-visible list replaced by that list's
    /// items, depth first; a list already on the path is kept as a plain item (a loop).
    ///
    /// The walk uses its own stack, so a long chain of lists cannot exhaust the thread's. A list already
    /// compiled whose walk met no loop (`acyclicLists`) is spliced in whole: nothing it can reach leads
    /// back to the path (that would be a loop), so its expansion is the same here as on its own, and a
    /// chain of n lists costs O(n), not O(n²). The items are bounded by `Limits.listItems` and the
    /// references followed by `referenceFactor` times that, so the work is bounded even for lists that
    /// name each other many times (`lN: [lN-1, lN-1]`: 2^N items, or 2^N references to empty lists).
    mutating func expandList(_ root: ListInfo) -> Result<[String], ListFailure> {
        let limit = config.limits.listItems
        var out: [String] = []
        var references = 0
        var acyclic = true
        var seen: Set<String> = [root.name]
        var path: [(list: ListInfo, next: Int)] = [(root, 0)]
        while let (l, i) = path.last {
            guard i < l.items.count else {
                path.removeLast()
                if !path.isEmpty { seen.remove(l.name) }
                continue
            }
            path[path.count - 1].next += 1
            let item = l.items[i]
            guard let ref = collector.lists[item], ref.index < l.visibility else {
                out.append(item)
                if out.count > limit { return .failure(.tooLarge(items: out.count)) }
                continue
            }
            if seen.contains(item) {
                acyclic = false
                out.append(item)
                if out.count > limit { return .failure(.tooLarge(items: out.count)) }
                continue
            }
            usedLists.insert(item)
            if failedLists.contains(item) { return .failure(.failedDependency) }
            references += 1
            if references > Self.referenceFactor * limit { return .failure(.tooLarge(items: out.count)) }
            if acyclicLists.contains(item), let done = compiledLists[item] {
                out += done
                if out.count > limit { return .failure(.tooLarge(items: out.count)) }
                continue
            }
            seen.insert(item)
            path.append((ref, 0))
        }
        if acyclic { acyclicLists.insert(root.name) }
        return .success(out)
    }

    /// Charges `size` nodes to the load-wide budget (`Limits.totalSize`). False once it is spent; the item
    /// that spends it gets the error, the ones after it are left out silently.
    mutating func charge(_ size: Int, context: [Location]) -> Bool {
        if totalExceeded { return false }
        totalSize += size
        guard totalSize > config.limits.totalSize else { return true }
        totalExceeded = true
        report.error(.validate, "lists, macros and rules together expand to more than \(config.limits.totalSize) nodes and list items; "
                         + "this item and the ones after it are left out", context)
        return false
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
        let (line, column) = mapper.locate(origin, offset: inner)
        return ctx + [Location(file: origin.file, line: line, column: column, kind: kind)]
    }

    // MARK: - Parsing with lists expanded

    /// Parses a registered text and expands list names in it. Nil (with an error reported, unless the
    /// cause is a failed list reported already) on failure.
    mutating func parse(_ id: Int32) -> Expr? {
        var text = texts[Int(id)].text.text
        let limit = config.limits.conditionSize
        var substituted = 0
        // A list whose name cannot be written as a bare value (`test list`) is only reachable the way Falco
        // does it everywhere: by substituting the text before parsing.
        for l in collector.lists.items where !RuleCollector.isBareString(l.name) {
            let items = compiledLists[l.name] ?? l.items
            if let (replaced, count) = Self.substituteText(text, name: l.name, items: items) {
                usedLists.insert(l.name)
                if failedLists.contains(l.name) { return nil }
                substituted += count * items.count
                if substituted > limit {
                    report.error(.validate, Self.sizeMessage(limit), context(at: Pos(text: id, offset: 0)))
                    return nil
                }
                text = replaced
            }
        }
        let e: Expr
        do {
            e = try ConditionParser.parse(text, textID: id)
        } catch {
            report.error(.compileCondition, error.message, context(at: Pos(text: id, offset: Int32(error.offset))))
            return nil
        }
        var items = 0
        do {
            return try expandLists(e, items: &items)
        } catch .tooLarge {
            report.error(.validate, Self.sizeMessage(limit), context(at: e.pos))
            return nil
        } catch {
            return nil
        }
    }

    static func sizeMessage(_ limit: Int) -> String {
        "condition exceeds \(limit) nodes once macros and lists are expanded"
    }

    static func depthMessage(_ limit: Int) -> String {
        "macro nesting deeper than \(limit) levels once macros are expanded"
    }

    /// The expanded items of the list `name`; nil when there is no such list.
    mutating func listItems(_ name: String) throws(ExpansionFailure) -> [String]? {
        if failedLists.contains(name) {
            usedLists.insert(name)
            throw .failedDependency
        }
        return compiledLists[name]
    }

    /// Falco's resolve_list: replaces `name` delimited by blanks, parentheses, commas or `=` with the items.
    /// Returns the new text and how many times the name was replaced, or nil when it does not occur.
    static func substituteText(_ text: String, name: String, items: [String]) -> (String, Int)? {
        let delims: Set<Character> = [" ", "\t", "\n", "\r", "(", ")", ",", "="]
        var out = text
        var searchFrom = out.startIndex
        var changed = 0
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
            changed += 1
        }
        return changed > 0 ? (out, changed) : nil
    }

    /// Replaces bare (unquoted) list names in values with the lists' items, counting the items added
    /// against `Limits.conditionSize`. Recursive over one parsed text (bounded by the parser's depth limit).
    mutating func expandLists(_ e: Expr, items count: inout Int) throws(ExpansionFailure) -> Expr {
        switch e {
        case .and(let cs, let p):
            var out: [Expr] = []
            for c in cs { out.append(try expandLists(c, items: &count)) }
            return .and(out, p)
        case .or(let cs, let p):
            var out: [Expr] = []
            for c in cs { out.append(try expandLists(c, items: &count)) }
            return .or(out, p)
        case .not(let c, let p): return .not(try expandLists(c, items: &count), p)
        case .identifier, .unary: return e
        case .binary(let o, let op, let v, let p):
            switch v {
            case .list(let items, let lp):
                var out: [ListItem] = []
                for item in items {
                    if !item.quoted, let expanded = try listItems(item.value) {
                        usedLists.insert(item.value)
                        count += expanded.count
                        if count > config.limits.conditionSize { throw .tooLarge }
                        out += expanded.map { Self.listValue($0, pos: item.pos) }
                    } else {
                        out.append(item)
                    }
                }
                return .binary(o, op: op, rhs: .list(out, lp), p)
            case .single(let s, false, let sp):
                guard let expanded = try listItems(s) else { return e }
                usedLists.insert(s)
                count += expanded.count
                if count > config.limits.conditionSize { throw .tooLarge }
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
            if let r = resolve(macroASTs[m.name]!, visibility: m.visibility, stack: &stack, context: m.context),
               charge(r.size, context: m.context) {
                resolvedMacros[m.name] = r
            } else {
                failedMacros.insert(m.name)
            }
        }
    }

    /// A condition with its macros expanded, with its size and depth. Resolved macros are shared by
    /// the conditions that use them, so the size is counted, never walked: a condition that is too large
    /// or too deep is refused before anything walks it.
    struct Expansion {
        var expr: Expr
        /// Nodes, list values included (what `Limits.conditionSize` bounds).
        var size: Int
        /// `and`/`or`/`not` levels plus one (what `Limits.conditionDepth` bounds).
        var depth: Int
    }

    /// Replaces macro references with their (resolved) conditions. Only macros defined before `visibility`
    /// are visible (rules see all). Nil when a reference is undefined, failed, or loops, or the result is
    /// past a limit (reported, in `ctx`). Recursive over the parsed texts, each bounded by the parser's
    /// depth limit, and over the macro reference chain, bounded by `Limits.conditionDepth`.
    mutating func resolve(_ e: Expr, visibility: Int, stack: inout [String], context ctx: [Location]) -> Expansion? {
        switch e {
        case .and(let cs, let p), .or(let cs, let p):
            var out: [Expr] = []
            out.reserveCapacity(cs.count)
            var size = 1, depth = 1
            for c in cs {
                guard let r = resolve(c, visibility: visibility, stack: &stack, context: ctx) else { return nil }
                out.append(r.expr)
                size += r.size
                depth = max(depth, r.depth + 1)
                guard withinLimits(size: size, depth: depth, at: p, context: ctx) else { return nil }
            }
            if case .and = e { return Expansion(expr: .and(out, p), size: size, depth: depth) }
            return Expansion(expr: .or(out, p), size: size, depth: depth)
        case .not(let c, let p):
            guard let r = resolve(c, visibility: visibility, stack: &stack, context: ctx),
                  withinLimits(size: r.size + 1, depth: r.depth + 1, at: p, context: ctx) else { return nil }
            return Expansion(expr: .not(r.expr, p), size: r.size + 1, depth: r.depth + 1)
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
        case .unary:
            return Expansion(expr: e, size: 1, depth: 1)
        case .binary(_, _, let v, let p):
            var size = 1
            if case .list(let items, _) = v { size += items.count }
            guard withinLimits(size: size, depth: 1, at: p, context: ctx) else { return nil }
            return Expansion(expr: e, size: size, depth: 1)
        }
    }

    /// Reports (in the item being compiled, at `p`) and returns false when a size or depth is past its limit.
    mutating func withinLimits(size: Int, depth: Int, at p: Pos, context ctx: [Location]) -> Bool {
        let limits = config.limits
        guard size > limits.conditionSize || depth > limits.conditionDepth else { return true }
        let at = context(at: p).last.map { [$0] } ?? []
        let message = size > limits.conditionSize ? Self.sizeMessage(limits.conditionSize) : Self.depthMessage(limits.conditionDepth)
        report.error(.validate, message, ctx + at)
        return false
    }

    // MARK: - Rules

    mutating func compileRule(_ r: RuleInfo) -> CompiledRule? {
        // Output first, as Falco does (its error comes first). Falco stops there; Lanner also checks the
        // condition so that one pass reports both problems, and then leaves the rule out.
        let outID = register(r.output, context: r.outputContext)
        var output = OutputFormat(parts: [])
        var outputFailed = false
        switch OutputFormat.parse(r.output.text, catalog: config.catalog) {
        case .success(let f): output = f
        case .failure(let f):
            let ctx = context(at: Pos(text: outID, offset: Int32(f.offset)), kind: .outputExpression)
            if f.unknownField && r.skipIfUnknownFilter {
                report.warning(.unknownFilter, f.message, ctx)
                return nil
            }
            report.error(.compileOutput, f.message, ctx)
            outputFailed = true
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
        guard let expansion = resolve(parsed, visibility: Int.max, stack: &stack, context: r.context),
              charge(expansion.size, context: r.context) else { return nil }
        let expanded = expansion.expr

        let checker = check(expanded, in: r)
        let typed = checker.condition
        for w in checker.warnings { report.warning(w.code, w.message, w.context) }
        if let err = checker.error {
            if err.unknown && r.skipIfUnknownFilter {
                report.warning(.unknownFilter, err.message, err.context)
            } else {
                report.error(.compileCondition, err.message, err.context)
            }
            return nil
        }
        guard let typed, !outputFailed else { return nil }

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

    /// Type-checks a rule's expanded condition. The checker holds a copy of the compiler (to find
    /// positions), so it lives only in here: while it lives, reporting a diagnostic would copy them all.
    func check(_ expanded: Expr, in r: RuleInfo) -> (condition: Condition?, warnings: [(code: DiagnosticCode, message: String, context: [Location])],
                                                    error: ConditionChecker.Problem?, usedFields: [ResolvedField]) {
        // Problems inside a macro are reported in the rule that uses it, with the macro's position.
        let compiler = self
        let ruleContext = r.context
        var checker = ConditionChecker(config: config, cache: operandCache) { pos in
            let inner = compiler.context(at: pos)
            if inner.contains(where: { $0.kind == .rule && $0.name == r.name }) { return inner }
            return ruleContext + inner.filter { $0.kind != .rulesContent }.map { l in
                var l = l
                if l.kind == .macro { l.kind = .macroUsed }
                return l
            }
        }
        let typed = checker.check(expanded)
        return (typed, checker.warnings, checker.error, checker.usedFields)
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
