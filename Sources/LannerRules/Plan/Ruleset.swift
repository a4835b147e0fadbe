import Glibc
import LannerCore

/// Supplies field values for one kind of event context (Lanner's collector implements it over host state).
public protocol FieldProvider: SendableMetatype {
    associatedtype Context: AnyObject
    /// The event type names (Falco's `evt.type` spelling) of the events this provider evaluates, by code.
    var eventTypeNames: [String] { get }
    /// The extractor for `field`, or nil when this provider does not supply it. An extractor appends zero
    /// values (field missing for this event), one value, or several (list fields, ancestor chains) to the
    /// scratch. Called once per distinct field when a ruleset is built, never per event.
    func extractor(for field: ResolvedField) -> ((Context, EvalScratch) -> Void)?
}

/// How many rules may fire for one event.
public enum RuleMatching: String, Sendable, CaseIterable {
    /// Every matching rule raises its alert (Lanner's default).
    case all
    /// Rules run in file order; the first match wins (Falco's default).
    case first
}

/// Compiled rules bound to a provider, indexed by event type: an event runs only the rules that can match
/// its type, each as a short bytecode program whose `evt.type` checks were folded away for that type.
/// Fields are extracted on first use and cached for the rest of the event. The interpreter (`RuleEngine`)
/// is not generic; this class binds it to the provider's context type.
public final class Ruleset<Provider: FieldProvider> {
    public typealias Context = Provider.Context

    /// The rules, in evaluation order.
    public private(set) var rules: [CompiledRule] = []
    public let matching: RuleMatching
    let provider: Provider
    let engine = RuleEngine()

    // Field slots: one per distinct operand (field + transformers).
    var slotIndex: [FieldOperand: Int32] = [:]
    var slotOperands: [FieldOperand] = []
    /// The Falco-printed text of each check, for `explain`.
    var checkTexts: [String] = []
    /// Per rule: (event type code, program start), for `explain`.
    var programs: [[(type: Int, start: Int32)]] = []

    /// Every field the kept rules read, in conditions (exceptions included) or outputs, once each.
    public var referencedFields: [ResolvedField] { Array(Set(slotOperands.map(\.field))) }

    /// Names of fields the provider does not supply; rules needing them in conditions were left out.
    public private(set) var missingFields: Set<String> = []

    /// Builds the ruleset from active, supported rules.
    /// - Parameters:
    ///   - rules: compiled rules (`LoadResult.activeRules`, or a selection of them).
    ///   - provider: the field source.
    ///   - matching: `.all` or `.first`.
    public init(_ rules: [CompiledRule], provider: Provider, matching: RuleMatching = .all) {
        self.provider = provider
        self.matching = matching
        let ordered = rules.sorted { $0.index < $1.index }
        var kept: [CompiledRule] = []
        let names = provider.eventTypeNames
        var buckets: [[(rule: Int32, start: Int32)]] = Array(repeating: [], count: names.count)
        for rule in ordered {
            // Every condition field must be supplied for the rule to run.
            var ok = true
            for f in Ruleset.conditionFields(rule.condition) where !Ruleset.supplies(provider, f.field) {
                missingFields.insert(f.field.description)
                ok = false
            }
            guard ok else { continue }
            let ruleIdx = Int32(kept.count)
            kept.append(rule)
            var mine: [(Int, Int32)] = []
            for (code, name) in names.enumerated() where rule.eventTypes.contains(name) {
                let folded = Ruleset.simplify(Ruleset.fold(rule.condition, eventType: name))
                if case .constant(false) = folded { continue }
                let start = Int32(engine.codeCount)
                emit(folded)
                _ = engine.appendInstruction(Instruction(op: .end, arg: 0))
                buckets[code].append((ruleIdx, start))
                mine.append((code, start))
            }
            programs.append(mine)
        }
        self.rules = kept
        engine.setBuckets(buckets)
        // Output fields also get slots (rendered only for alerts).
        for r in kept {
            for p in r.output.parts { if case .field(let op, _) = p { _ = slot(for: op) } }
        }
    }

    // MARK: - Evaluation

    /// Evaluates the rules that can match an event of type `eventType` (a code into `eventTypeNames`).
    /// - Parameters:
    ///   - onMatch: called with the index (into `rules`) of each matching rule, in rule order.
    /// - Complexity: the candidate rules' programs only; each field is extracted at most once.
    @inline(__always)
    public func evaluate(_ ctx: Context, eventType: Int, scratch: EvalScratch, _ onMatch: (Int) -> Void) {
        engine.evaluate(ctx, eventType: eventType, scratch: scratch, first: matching == .first, onMatch)
    }

    /// Whether `provider` supplies `field`; a domain-name field (`fd.sip.name`) is derived from its address field.
    static func supplies(_ provider: Provider, _ field: ResolvedField) -> Bool {
        provider.extractor(for: field.domainAddressField ?? field) != nil
    }

    // MARK: - Domain names

    /// The domain names this ruleset's `fd.*ip.name` checks compare with `=`, `!=` or `in`, in the order rules
    /// first use them: the names a resolver must look up for it.
    public var domainNames: [String] { engine.domainNames }

    /// Makes the ruleset read the addresses of its domain names from `names`. Without it every name has no
    /// address (`fd.sip.name = n` never holds, `!= n` holds for every address). Call before evaluating, on the
    /// evaluating thread or before handing the ruleset to it. From then on each evaluation checks the source's
    /// generation (one atomic load) and adopts a new snapshot between events; a lookup never delays it.
    public func useDomainNames(_ names: DomainNames) {
        engine.useDomains(names)
    }

    /// The generation of the domain snapshot the ruleset uses now (`UInt64.max` before the first evaluation).
    public var domainGeneration: UInt64 { engine.domainGeneration }

    /// How many rules can match events of each type (for `rules describe` and metrics).
    public func candidateCount(eventType: Int) -> Int { engine.candidates(eventType).count }

    /// The event type codes any rule can match (the interest set sensors are told about).
    public var interestingEventTypes: [Int] { (0..<provider.eventTypeNames.count).filter { !engine.candidates($0).isEmpty } }

    func emit(_ c: Condition) {
        switch c {
        case .constant(let b): _ = engine.appendInstruction(Instruction(op: .constant, arg: b ? 1 : 0))
        case .check(let ch): _ = engine.appendInstruction(Instruction(op: .check, arg: compileCheck(ch)))
        case .not(let inner):
            emit(inner)
            _ = engine.appendInstruction(Instruction(op: .not, arg: 0))
        case .and(let cs), .or(let cs):
            let isAnd: Bool
            if case .and = c { isAnd = true } else { isAnd = false }
            var patches: [Int] = []
            for (i, child) in cs.enumerated() {
                emit(child)
                if i < cs.count - 1 { patches.append(engine.appendInstruction(Instruction(op: isAnd ? .jumpIfFalse : .jumpIfTrue, arg: 0))) }
            }
            let end = Int32(engine.codeCount)
            for p in patches { engine.code[p].arg = end }
        }
    }

    // MARK: - Folding by event type

    static func fold(_ c: Condition, eventType: String) -> Condition {
        switch c {
        case .constant: return c
        case .not(let x): return .not(fold(x, eventType: eventType))
        case .and(let cs): return .and(cs.map { fold($0, eventType: eventType) })
        case .or(let cs): return .or(cs.map { fold($0, eventType: eventType) })
        case .check(let ch):
            guard ch.lhs.field.name == "evt.type", ch.lhs.transformers.isEmpty, case .constants(let cs) = ch.rhs else { return c }
            let name = Array(eventType.utf8)
            let hit = cs.contains { if case .string(let b) = $0 { return b == name } else { return false } }
            switch (ch.op, ch.modifier) {
            case (.eq, nil), (.in, nil), (.intersects, nil), (.eq, .oneof?), (.eq, .anyof?): return .constant(hit)
            case (.ne, nil): return .constant(!hit)
            default: return c
            }
        }
    }

    static func simplify(_ c: Condition) -> Condition {
        switch c {
        case .constant, .check: return c
        case .not(let x):
            let s = simplify(x)
            if case .constant(let b) = s { return .constant(!b) }
            if case .not(let y) = s { return y }
            return .not(s)
        case .and(let cs):
            var out: [Condition] = []
            for x in cs.map(simplify) {
                if case .constant(let b) = x { if !b { return .constant(false) }; continue }
                if case .and(let inner) = x { out += inner } else { out.append(x) }
            }
            return out.isEmpty ? .constant(true) : (out.count == 1 ? out[0] : .and(out))
        case .or(let cs):
            var out: [Condition] = []
            for x in cs.map(simplify) {
                if case .constant(let b) = x { if b { return .constant(true) }; continue }
                if case .or(let inner) = x { out += inner } else { out.append(x) }
            }
            return out.isEmpty ? .constant(false) : (out.count == 1 ? out[0] : .or(out))
        }
    }

    static func conditionFields(_ c: Condition) -> [FieldOperand] {
        switch c {
        case .constant: return []
        case .not(let x): return conditionFields(x)
        case .and(let cs), .or(let cs): return cs.flatMap(conditionFields)
        case .check(let ch):
            if case .field(let r) = ch.rhs { return [ch.lhs, r] }
            return [ch.lhs]
        }
    }

    // MARK: - Slots

    /// The slot holding an operand's values, creating it (and its extractor chain) on first use.
    func slot(for op: FieldOperand) -> Int32 {
        if let s = slotIndex[op] { return s }
        let extract: ErasedExtractor
        if op.transformers.isEmpty, let address = op.field.domainAddressField {
            // fd.sip.name: the first of the ruleset's names whose addresses include fd.sip, as Falco renders it.
            let addressSlot = slot(for: FieldOperand(field: address))
            let engine = Unmanaged.passUnretained(self.engine)
            extract = { ctx, scratch in
                let e = engine.takeUnretainedValue()
                let (start, count) = e.values(addressSlot, ctx, scratch)
                scratch.pendingStart = scratch.count
                guard count > 0, case .ip(let a) = scratch.values[start], let id = e.domainIndex.names(of: a).first else { return }
                scratch.append(bytes: e.domainNameBytes[Int(id)])
            }
        } else if op.transformers.isEmpty {
            if let typed = provider.extractor(for: op.field) {
                let contextType = Context.self   // captured once: no witness lookup per call
                extract = { obj, scratch in typed(unsafeDowncast(obj, to: contextType), scratch) }
            } else {
                extract = { _, _ in }
            }
        } else {
            var inner = op
            let last = inner.transformers.removeLast()
            let innerSlot = slot(for: inner)
            let engine = Unmanaged.passUnretained(self.engine)
            extract = { ctx, scratch in
                let (start, count) = engine.takeUnretainedValue().values(innerSlot, ctx, scratch)
                scratch.pendingStart = scratch.count
                for i in start..<(start + count) {
                    transformValue(last, scratch.values[i], scratch)
                }
            }
        }
        let s = Int32(engine.extractors.count)
        slotIndex[op] = s
        slotOperands.append(op)
        engine.extractors.append(extract)
        return s
    }

    // MARK: - Checks

    /// Identical checks (same operand, same canonical text) share one entry, so their result is computed once
    /// per event however many rules repeat them (Falco's macros make that common).
    var checkIndex: [String: Int32] = [:]

    func compileCheck(_ ch: Check) -> Int32 {
        let s = slot(for: ch.lhs)
        let key = "\(s)|\(ch.text)"
        if let existing = checkIndex[key] { return existing }
        defer { checkIndex[key] = Int32(engine.checkCount - 1) }
        checkTexts.append(ch.text)
        let either = ch.lhs.transformers.isEmpty && eitherEndFields.contains(ch.lhs.field.name)
        var rc = RuntimeCheck(slot: s, op: ch.op, modifier: ch.modifier == nil ? 0 : (ch.modifier == .allof ? 2 : 1),
                              isList: ch.lhs.isList, anyValue: ch.lhs.matchesAnyAncestor || ch.lhs.isList || either,
                              eitherEnd: either, rhs: .none, a: 0, b: 0)
        if ch.lhs.transformers.isEmpty, let address = ch.lhs.field.domainAddressField, case .constants(let cs) = ch.rhs,
           ch.op == .eq || ch.op == .ne || ch.op == .in {
            // Falco's fd.*ip.name comparisons: the event's address against the names' resolved addresses.
            rc.slot = slot(for: FieldOperand(field: address))
            rc.isList = false
            rc.anyValue = false
            rc.eitherEnd = false
            rc.rhs = .domains
            let ids = cs.compactMap { c -> Int32? in if case .string(let b) = c { return engine.domainID(b) } else { return nil } }
            rc.a = engine.appendDomainIDs(ids)
            rc.b = Int32(ids.count)
            return engine.appendCheck(rc)
        }
        switch ch.rhs {
        case .none: break
        case .field(let op):
            rc.rhs = .field
            rc.a = slot(for: op)
        case .constants(let cs):
            let lower = ch.op == .icontains || ch.op == .iglob
            let vals: [FieldValue] = cs.map { c in
                switch c {
                case .string(let b): return .bytes(engine.pool.intern(lower ? b.map(Bytes.lower) : b))
                case .int(let n): return .int(n)
                case .uint(let n): return .uint(n)
                case .bool(let b): return .bool(b)
                case .ip(let a): return .ip(a)
                case .net(let n): return .net(n)
                }
            }
            rc.rhs = .values
            rc.a = engine.appendConstants(vals)
            rc.b = Int32(vals.count)
            if ch.modifier == nil {
                if ch.op == .pmatch {
                    rc.rhs = .paths
                    rc.a = Int32(engine.pathSets.count)
                    engine.pathSets.append(PathPrefixSet(vals.compactMap(\.bytes)))
                } else if ch.op == .in || ch.op == .intersects, vals.count >= 4, vals.allSatisfy({ $0.bytes != nil }) {
                    rc.rhs = .strings
                    rc.a = Int32(engine.stringSets.count)
                    engine.stringSets.append(ByteStringSet(vals.compactMap(\.bytes)))
                } else if ch.op == .regex, let pattern = vals.first?.bytes {
                    rc.rhs = .regex
                    rc.a = Int32(engine.regexes.count)
                    engine.regexes.append(RegexBox(String(decoding: pattern, as: UTF8.self)))
                }
            }
        }
        return engine.appendCheck(rc)
    }

    // MARK: - Output

    /// A rendered alert: the output text and the output fields as (key, JSON value text).
    public struct Rendered: Sendable {
        public var output: String
        /// Falco's `output_fields`: field key → JSON value (`"text"`, a number, `true`, or `null`).
        public var fields: [(key: String, json: String)]
    }

    /// Renders rule `index`'s output for the current event (values come from the same cache).
    public func render(rule index: Int, _ ctx: Context, scratch: EvalScratch) -> Rendered {
        engine.syncDomains()
        scratch.ensureSlots(engine.extractors.count)
        var text = ""
        var fields: [(String, String)] = []
        var seen = Set<String>()
        func values(_ op: FieldOperand) -> [FieldValue] {
            let s = slotIndex[op] ?? slot(for: op)
            scratch.ensureSlots(engine.extractors.count)
            let (start, count) = engine.values(s, ctx, scratch)
            return Array(UnsafeBufferPointer(start: scratch.values + start, count: count))
        }
        func append(_ parts: [OutputFormat.Part]) {
            for part in parts {
                switch part {
                case .literal(let s): text += s
                case .containerInfo:
                    let id = renderText(values(ContainerInfo.idOperand), ContainerInfo.idOperand)
                    guard let id, id != "host" else { break }   // on the host it expands to nothing, as in Falco
                    let inPod = renderText(values(ContainerInfo.podOperand), ContainerInfo.podOperand) != nil
                    append((inPod ? ContainerInfo.kubernetes : ContainerInfo.container).parts)
                case .field(let op, let key):
                    let vals = values(op)
                    text += renderText(vals, op) ?? "<NA>"
                    if seen.insert(key).inserted { fields.append((key, renderJSON(vals, op))) }
                }
            }
        }
        append(rules[index].output.parts)
        return Rendered(output: text, fields: fields)
    }

    // MARK: - Explain

    /// Why a rule did or did not match the current event: each check with its outcome and the values seen.
    public func explain(rule index: Int, eventType: Int, _ ctx: Context, scratch: EvalScratch) -> String {
        engine.syncDomains()
        scratch.ensureSlots(engine.extractors.count)
        let rule = rules[index]
        guard let entry = programs[index].first(where: { $0.type == eventType }) else {
            let name = eventType >= 0 && eventType < provider.eventTypeNames.count ? provider.eventTypeNames[eventType] : "?"
            return "rule '\(rule.name)' cannot match \(name) events (it matches: \(rule.eventTypes.sorted().prefix(8).joined(separator: ", "))\(rule.eventTypes.count > 8 ? ", …" : ""))"
        }
        var lines: [String] = []
        var pc = Int(entry.start)
        var acc = false
        while true {
            let ins = engine.code[pc]
            switch ins.op {
            case .check:
                let i = Int(ins.arg)
                acc = engine.evalCheck(i, ctx, scratch)
                let c = engine.checks[i]
                let (s, n) = engine.values(c.slot, ctx, scratch)
                let shown = n == 0 ? "<NA>" : UnsafeBufferPointer(start: scratch.values + s, count: n).map(valueText).joined(separator: ",")
                lines.append("  \(acc ? "true " : "false") \(checkTexts[i])   (\(slotOperands[Int(c.slot)]) = \(shown))")
            case .jumpIfFalse: if !acc { pc = Int(ins.arg); continue }
            case .jumpIfTrue: if acc { pc = Int(ins.arg); continue }
            case .not:
                acc = !acc
                lines.append("        not → \(acc)")
            case .constant: acc = ins.arg != 0
            case .end:
                return "rule '\(rule.name)': \(acc ? "matched" : "did not match")\n" + lines.joined(separator: "\n")
            }
            pc += 1
        }
    }
}

/// Applies one transformer to a value, appending the result.
func transformValue(_ t: Transformer, _ v: FieldValue, _ scratch: EvalScratch) {
    guard case .bytes(let b) = v else {
        if t == .len { scratch.append(.uint(0)) }
        return
    }
    switch t {
    case .tolower, .toupper:
        let out = scratch.arena.allocate(b.count)
        for i in 0..<b.count {
            let c = b[i]
            out[i] = t == .tolower ? ((c >= 0x41 && c <= 0x5a) ? c | 0x20 : c) : ((c >= 0x61 && c <= 0x7a) ? c & ~0x20 : c)
        }
        scratch.append(bytes: UnsafeRawBufferPointer(out))
    case .basename:
        var end = b.count
        while end > 1 && b[end - 1] == 0x2f { end -= 1 }
        var start = end
        while start > 0 && b[start - 1] != 0x2f { start -= 1 }
        scratch.append(bytes: UnsafeRawBufferPointer(rebasing: b[start..<end]))
    case .len:
        scratch.append(.uint(UInt64(b.count)))
    case .b64:
        if let decoded = Base64.decode(b) { scratch.appendCopy(decoded) }
    }
}

/// The text of a field's values: the first value (the parent, for unindexed ancestor fields), or all
/// values joined by commas for list fields; nil when missing.
func renderText(_ vals: [FieldValue], _ op: FieldOperand) -> String? {
    guard !vals.isEmpty else { return nil }
    if op.isList { return vals.map(valueText).joined(separator: ",") }
    return valueText(vals[0])
}

func valueText(_ v: FieldValue) -> String {
    switch v {
    case .int(let n): return String(n)
    case .uint(let n): return String(n)
    case .bool(let b): return b ? "true" : "false"
    case .bytes(let b): return String(decoding: b, as: UTF8.self)
    case .ip(let a): return a.description
    case .net(let n): return n.description
    }
}

func renderJSON(_ vals: [FieldValue], _ op: FieldOperand) -> String {
    guard !vals.isEmpty else { return "null" }
    func one(_ v: FieldValue) -> String {
        switch v {
        case .int(let n): return String(n)
        case .uint(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .bytes(let b): return JSON.quoted(String(decoding: b, as: UTF8.self))
        case .ip(let a): return JSON.quoted(a.description)
        case .net(let n): return JSON.quoted(n.description)
        }
    }
    if op.isList { return "[" + vals.map(one).joined(separator: ",") + "]" }
    return one(vals[0])
}

/// A compiled POSIX extended regular expression, matched against the whole value.
final class RegexBox: @unchecked Sendable {
    var re = regex_t()
    let ok: Bool

    init(_ pattern: String) {
        ok = RegexTranslation.compile(pattern, into: &re)
    }

    deinit { if ok { regfree(&re) } }

    func matches(_ b: UnsafeRawBufferPointer, scratch: EvalScratch) -> Bool {
        guard ok else { return false }
        scratch.cString.removeAll(keepingCapacity: true)
        for c in b { scratch.cString.append(CChar(bitPattern: c == 0 ? 0x20 : c)) }
        scratch.cString.append(0)
        return scratch.cString.withUnsafeBufferPointer { regexec(&re, $0.baseAddress!, 0, nil, 0) == 0 }
    }
}

/// Standard base64 decoding for the `b64` transformer.
enum Base64 {
    static func decode(_ b: UnsafeRawBufferPointer) -> [UInt8]? {
        func val(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x41...0x5a: return c - 0x41
            case 0x61...0x7a: return c - 0x61 + 26
            case 0x30...0x39: return c - 0x30 + 52
            case 0x2b, 0x2d: return 62
            case 0x2f, 0x5f: return 63
            default: return nil
            }
        }
        var out: [UInt8] = []
        var acc: UInt32 = 0, bits = 0
        for c in b {
            if c == 0x3d || c == 0x0a || c == 0x0d { continue }
            guard let v = val(c) else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        return out
    }
}

/// What `%container.info` expands to, as Falco's `-pc` and `-pk` outputs define it: container-level details
/// for a process in a container, plus Kubernetes-level ones when the pod is known; nothing on the host.
enum ContainerInfo {
    static let containerText = "container_id=%container.id container_image=%container.image.repository "
        + "container_image_tag=%container.image.tag container_name=%container.name"
    static let kubernetesText = containerText + " k8s_ns=%k8s.ns.name k8s_pod_name=%k8s.pod.name"

    static let container = parse(containerText)
    static let kubernetes = parse(kubernetesText)
    static let idOperand = container.fields[0].operand
    static let podOperand = kubernetes.fields[kubernetes.fields.count - 1].operand

    private static func parse(_ text: String) -> OutputFormat {
        switch OutputFormat.parse(text, catalog: .falco) {
        case .success(let f): return f
        case .failure(let e): fatalError("built-in %container.info format does not parse: \(e.message)")
        }
    }
}
