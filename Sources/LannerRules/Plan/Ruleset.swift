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
/// Fields are extracted on first use and cached for the rest of the event.
public final class Ruleset<Provider: FieldProvider> {
    public typealias Context = Provider.Context

    /// The rules, in evaluation order.
    public private(set) var rules: [CompiledRule] = []
    public let matching: RuleMatching
    let provider: Provider

    // Field slots: one per distinct operand (field + transformers).
    var slotIndex: [FieldOperand: Int32] = [:]
    var slotOperands: [FieldOperand] = []
    var slotExtractors: [(Context, EvalScratch) -> Void] = []
    var checks: [RuntimeCheck] = []
    /// The Falco-printed text of each check, for `explain`.
    var checkTexts: [String] = []
    var code: [Instruction] = []
    /// Per event type code: (rule index, start of its program in `code`), in rule order.
    var buckets: [[(rule: Int32, start: Int32)]] = []
    let pool = ConstantPool()

    /// Names of fields the provider does not supply; rules needing them in conditions were left out.
    public private(set) var missingFields: Set<String> = []

    /// Builds the ruleset from active, supported rules.
    /// - Parameters:
    ///   - rules: compiled rules (already filtered for enabled / minimum priority by the caller, or use `LoadResult.activeRules`).
    ///   - provider: the field source.
    ///   - matching: `.all` or `.first`.
    public init(_ rules: [CompiledRule], provider: Provider, matching: RuleMatching = .all) {
        self.provider = provider
        self.matching = matching
        let ordered = rules.sorted { $0.index < $1.index }
        var kept: [CompiledRule] = []
        let names = provider.eventTypeNames
        buckets = Array(repeating: [], count: names.count)
        for rule in ordered {
            // Every condition field must be supplied for the rule to run.
            var ok = true
            for f in Ruleset.conditionFields(rule.condition) where provider.extractor(for: f.field) == nil {
                missingFields.insert(f.field.description)
                ok = false
            }
            guard ok else { continue }
            let ruleIdx = Int32(kept.count)
            kept.append(rule)
            for (code, name) in names.enumerated() where rule.eventTypes.contains(name) {
                let folded = Ruleset.simplify(Ruleset.fold(rule.condition, eventType: name))
                if case .constant(false) = folded { continue }
                let start = Int32(self.code.count)
                emit(folded)
                self.code.append(.end)
                buckets[code].append((ruleIdx, start))
            }
        }
        self.rules = kept
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
        guard eventType >= 0, eventType < buckets.count else { return }
        let bucket = buckets[eventType]
        if bucket.isEmpty { return }
        scratch.ensureSlots(slotExtractors.count)
        for entry in bucket {
            if run(entry.start, ctx, scratch) {
                onMatch(Int(entry.rule))
                if matching == .first { return }
            }
        }
    }

    /// How many rules can match events of each type (for `rules describe` and metrics).
    public func candidateCount(eventType: Int) -> Int { eventType < buckets.count ? buckets[eventType].count : 0 }

    /// The event type codes any rule can match (the interest set sensors are told about).
    public var interestingEventTypes: [Int] { buckets.indices.filter { !buckets[$0].isEmpty } }

    enum Instruction {
        case check(Int32)
        case jumpIfFalse(Int32)
        case jumpIfTrue(Int32)
        case not
        case constant(Bool)
        case end
    }

    func run(_ start: Int32, _ ctx: Context, _ scratch: EvalScratch) -> Bool {
        var pc = Int(start)
        var acc = false
        return code.withUnsafeBufferPointer { code in
            while true {
                switch code[pc] {
                case .check(let i): acc = evalCheck(Int(i), ctx, scratch)
                case .jumpIfFalse(let t): if !acc { pc = Int(t); continue }
                case .jumpIfTrue(let t): if acc { pc = Int(t); continue }
                case .not: acc = !acc
                case .constant(let b): acc = b
                case .end: return acc
                }
                pc += 1
            }
        }
    }

    func emit(_ c: Condition) {
        switch c {
        case .constant(let b): code.append(.constant(b))
        case .check(let ch): code.append(.check(Int32(compileCheck(ch))))
        case .not(let inner):
            emit(inner)
            code.append(.not)
        case .and(let cs), .or(let cs):
            let isAnd: Bool
            if case .and = c { isAnd = true } else { isAnd = false }
            var patches: [Int] = []
            for (i, child) in cs.enumerated() {
                emit(child)
                if i < cs.count - 1 {
                    patches.append(code.count)
                    code.append(isAnd ? .jumpIfFalse(0) : .jumpIfTrue(0))
                }
            }
            let end = Int32(code.count)
            for p in patches { code[p] = isAnd ? .jumpIfFalse(end) : .jumpIfTrue(end) }
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
        let extract: (Context, EvalScratch) -> Void
        if op.transformers.isEmpty {
            extract = provider.extractor(for: op.field) ?? { _, _ in }
        } else {
            var inner = op
            let last = inner.transformers.removeLast()
            let innerSlot = slot(for: inner)
            let ruleset = Unmanaged.passUnretained(self)
            extract = { ctx, scratch in
                let rs = ruleset.takeUnretainedValue()
                let (start, count) = rs.values(innerSlot, ctx, scratch)
                scratch.pendingStart = scratch.values.count
                for i in start..<(start + count) {
                    Ruleset.transform(last, scratch.values[i], scratch)
                }
            }
        }
        let s = Int32(slotExtractors.count)
        slotIndex[op] = s
        slotOperands.append(op)
        slotExtractors.append(extract)
        return s
    }

    /// The cached values of a slot for the current event: extracts on first use.
    @inline(__always)
    func values(_ slot: Int32, _ ctx: Context, _ scratch: EvalScratch) -> (start: Int, count: Int) {
        let s = Int(slot)
        if scratch.slotGeneration[s] == scratch.generation {
            return (Int(scratch.slotStart[s]), Int(scratch.slotCount[s]))
        }
        // Transformer extractors first fill their inner slot, then mark where their own values begin.
        let before = scratch.values.count
        scratch.pendingStart = -1
        slotExtractors[s](ctx, scratch)
        let start = scratch.pendingStart >= 0 ? scratch.pendingStart : before
        scratch.slotGeneration[s] = scratch.generation
        scratch.slotStart[s] = Int32(start)
        scratch.slotCount[s] = Int32(scratch.values.count - start)
        return (start, scratch.values.count - start)
    }

    static func transform(_ t: Transformer, _ v: FieldValue, _ scratch: EvalScratch) {
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

    // MARK: - Checks


    struct RuntimeCheck {
        var slot: Int32
        var op: CheckOp
        var modifier: Operator.Modifier?
        /// List fields: `in` = every value in the set, `intersects` = any. Ancestor fields: any value.
        var isList: Bool
        var anyValue: Bool
        /// Either-end fields (fd.ip, fd.net, fd.port, fd.proto): `=`/`in` hold when either end matches,
        /// `!=` only when both ends differ (libsinsp's compare_ip / compare_net / compare_port).
        var eitherEnd: Bool
        var rhs: RuntimeRHS
    }

    enum RuntimeRHS {
        case none
        case values([FieldValue])
        case strings(ByteStringSet)
        case paths(PathPrefixSet)
        case regex(RegexBox)
        case field(Int32)
    }

    func compileCheck(_ ch: Check) -> Int {
        let s = slot(for: ch.lhs)
        var rhs: RuntimeRHS
        switch ch.rhs {
        case .none: rhs = .none
        case .field(let op): rhs = .field(slot(for: op))
        case .constants(let cs):
            let icontains = ch.op == .icontains || ch.op == .iglob
            let vals: [FieldValue] = cs.map { c in
                switch c {
                case .string(let b): return .bytes(pool.intern(icontains ? b.map(Bytes.lower) : b))
                case .int(let n): return .int(n)
                case .uint(let n): return .uint(n)
                case .bool(let b): return .bool(b)
                case .ip(let a): return .ip(a)
                case .net(let n): return .net(n)
                }
            }
            rhs = .values(vals)
            if ch.modifier == nil {
                if ch.op == .pmatch {
                    rhs = .paths(PathPrefixSet(vals.compactMap(\.bytes)))
                } else if (ch.op == .in || ch.op == .intersects), vals.count >= 4, vals.allSatisfy({ $0.bytes != nil }) {
                    rhs = .strings(ByteStringSet(vals.compactMap(\.bytes)))
                } else if ch.op == .regex, let pattern = vals.first?.bytes {
                    rhs = .regex(RegexBox(String(decoding: pattern, as: UTF8.self)))
                }
            }
        }
        checkTexts.append(ch.text)
        let either = ch.lhs.transformers.isEmpty && eitherEndFields.contains(ch.lhs.field.name)
        checks.append(RuntimeCheck(slot: s, op: ch.op, modifier: ch.modifier, isList: ch.lhs.isList,
                                   anyValue: ch.lhs.matchesAnyAncestor || ch.lhs.isList || either, eitherEnd: either, rhs: rhs))
        return checks.count - 1
    }

    func evalCheck(_ i: Int, _ ctx: Context, _ scratch: EvalScratch) -> Bool {
        let c = checks[i]
        let (start, count) = values(c.slot, ctx, scratch)
        if c.op == .exists { return count > 0 }
        if count == 0 { return false }   // a missing field makes every comparison false, != included
        var rhsStart = 0, rhsCount = 0
        if case .field(let rs) = c.rhs {
            (rhsStart, rhsCount) = values(rs, ctx, scratch)
            if rhsCount == 0 { return false }
        }
        if c.isList && (c.op == .in || c.op == .intersects) {
            var all = true, any = false
            for k in start..<(start + count) {
                let hit = member(scratch.values[k], c, scratch, rhsStart, rhsCount)
                all = all && hit
                any = any || hit
            }
            return c.op == .in ? all : any
        }
        if c.eitherEnd && c.op == .ne {
            for k in start..<(start + count) where !test(scratch.values[k], c, scratch, rhsStart, rhsCount) { return false }
            return true
        }
        if c.anyValue {
            for k in start..<(start + count) where test(scratch.values[k], c, scratch, rhsStart, rhsCount) { return true }
            return false
        }
        return test(scratch.values[start], c, scratch, rhsStart, rhsCount)
    }

    @inline(__always)
    func member(_ v: FieldValue, _ c: RuntimeCheck, _ scratch: EvalScratch, _ rs: Int, _ rc: Int) -> Bool {
        switch c.rhs {
        case .strings(let set):
            guard case .bytes(let b) = v else { return false }
            return set.contains(b)
        case .values(let vals):
            for x in vals where Ruleset.compare(.eq, v, x) { return true }
            return false
        case .field:
            for k in rs..<(rs + rc) where Ruleset.compare(.eq, v, scratch.values[k]) { return true }
            return false
        default:
            return false
        }
    }

    @inline(__always)
    func test(_ v: FieldValue, _ c: RuntimeCheck, _ scratch: EvalScratch, _ rs: Int, _ rc: Int) -> Bool {
        switch c.rhs {
        case .none: return true
        case .strings(let set):
            guard case .bytes(let b) = v else { return false }
            return set.contains(b)
        case .paths(let set):
            guard case .bytes(let b) = v else { return false }
            return set.matches(b)
        case .regex(let re):
            guard case .bytes(let b) = v else { return false }
            return re.matches(b, scratch: scratch)
        case .field:
            if c.op == .in || c.op == .intersects { return member(v, c, scratch, rs, rc) }
            return Ruleset.compare(c.op, v, scratch.values[rs])
        case .values(let vals):
            switch c.modifier {
            case .allof?:
                for x in vals where !Ruleset.compare(c.op, v, x) { return false }
                return true
            case .oneof?, .anyof?:
                for x in vals where Ruleset.compare(c.op, v, x) { return true }
                return false
            case nil:
                if c.op == .in || c.op == .intersects {
                    for x in vals where Ruleset.compare(.eq, v, x) { return true }
                    return false
                }
                return Ruleset.compare(c.op, v, vals[0])
            }
        }
    }

    /// One comparison of an extracted value with a constant or another field's value.
    @inline(__always)
    static func compare(_ op: CheckOp, _ v: FieldValue, _ c: FieldValue) -> Bool {
        switch (v, c) {
        case (.bytes(let a), .bytes(let b)):
            switch op {
            case .eq, .in, .intersects: return Bytes.equal(a, b)
            case .ne: return !Bytes.equal(a, b)
            case .contains, .bcontains: return Bytes.contains(a, b)
            case .icontains: return Bytes.containsIgnoringCase(a, lowerNeedle: b)
            case .startswith, .bstartswith: return Bytes.hasPrefix(a, b)
            case .endswith: return Bytes.hasSuffix(a, b)
            case .glob: return Glob.match(b, a, ignoreCase: false)
            case .iglob: return Glob.match(b, a, ignoreCase: true)
            case .lt: return Bytes.compare(a, b) < 0
            case .le: return Bytes.compare(a, b) <= 0
            case .gt: return Bytes.compare(a, b) > 0
            case .ge: return Bytes.compare(a, b) >= 0
            case .pmatch: return PathPrefixSet([b]).matches(a)
            case .regex, .exists: return false
            }
        case (.bool(let a), .bool(let b)):
            switch op {
            case .eq, .in, .intersects: return a == b
            case .ne: return a != b
            default: return false
            }
        case (.ip(let a), .ip(let b)):
            let eq = a == b
            return op == .ne ? !eq : (op == .eq || op == .in || op == .intersects) && eq
        case (.ip(let a), .net(let net)):
            let inside = net.contains(a)
            return op == .ne ? !inside : (op == .eq || op == .in || op == .intersects) && inside
        default:
            guard let order = numericOrder(v, c) else { return op == .ne }
            switch op {
            case .eq, .in, .intersects: return order == 0
            case .ne: return order != 0
            case .lt: return order < 0
            case .le: return order <= 0
            case .gt: return order > 0
            case .ge: return order >= 0
            default: return false
            }
        }
    }

    /// -1, 0, 1 comparing two numbers of either signedness; nil when either is not a number.
    @inline(__always)
    static func numericOrder(_ a: FieldValue, _ b: FieldValue) -> Int? {
        switch (a, b) {
        case (.int(let x), .int(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.uint(let x), .uint(let y)): return x < y ? -1 : (x == y ? 0 : 1)
        case (.int(let x), .uint(let y)): return x < 0 ? -1 : (UInt64(x) < y ? -1 : (UInt64(x) == y ? 0 : 1))
        case (.uint(let x), .int(let y)): return y < 0 ? 1 : (x < UInt64(y) ? -1 : (x == UInt64(y) ? 0 : 1))
        case (.bool(let x), .int(let y)): return (x ? 1 : 0) == y ? 0 : 1
        case (.bool(let x), .uint(let y)): return (x ? 1 : 0) == y ? 0 : 1
        default: return nil
        }
    }

    // MARK: - Output

    /// A rendered alert: the output text and the output fields as (key, JSON value text).
    public struct Rendered: Sendable {
        public var output: String
        /// Falco's `output_fields`: field key → JSON value (`"text"`, a number, `true`, or `null`).
        public var fields: [(key: String, json: String)]
    }

    /// Renders rule `index`'s output for the current event (values come from the same cache).
    public func render(rule index: Int, _ ctx: Context, scratch: EvalScratch,
                       containerInfo: (Context, EvalScratch) -> String = { _, _ in "" }) -> Rendered {
        scratch.ensureSlots(slotExtractors.count)
        let rule = rules[index]
        var text = ""
        var fields: [(String, String)] = []
        var seen = Set<String>()
        for part in rule.output.parts {
            switch part {
            case .literal(let s): text += s
            case .containerInfo: text += containerInfo(ctx, scratch)
            case .field(let op, let key):
                let s = slotIndex[op] ?? slot(for: op)
                scratch.ensureSlots(slotExtractors.count)
                let (start, count) = values(s, ctx, scratch)
                let vals = Array(scratch.values[start..<(start + count)])
                let rendered = Ruleset.text(vals, op)
                text += rendered ?? "<NA>"
                if seen.insert(key).inserted { fields.append((key, Ruleset.json(vals, op))) }
            }
        }
        return Rendered(output: text, fields: fields)
    }

    /// The text of a field's values: the first value (the parent, for unindexed ancestor fields), or all
    /// values joined by commas for list fields; nil when missing.
    static func text(_ vals: [FieldValue], _ op: FieldOperand) -> String? {
        guard !vals.isEmpty else { return nil }
        if op.isList { return vals.map(valueText).joined(separator: ",") }
        return valueText(vals[0])
    }

    static func valueText(_ v: FieldValue) -> String {
        switch v {
        case .int(let n): return String(n)
        case .uint(let n): return String(n)
        case .bool(let b): return b ? "true" : "false"
        case .bytes(let b): return String(decoding: b, as: UTF8.self)
        case .ip(let a): return a.description
        case .net(let n): return n.description
        }
    }

    static func json(_ vals: [FieldValue], _ op: FieldOperand) -> String {
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

    // MARK: - Explain

    /// Why a rule did or did not match the current event: each check with its outcome and the values seen.
    public func explain(rule index: Int, eventType: Int, _ ctx: Context, scratch: EvalScratch) -> String {
        scratch.ensureSlots(slotExtractors.count)
        let rule = rules[index]
        guard eventType >= 0, eventType < buckets.count, let entry = buckets[eventType].first(where: { $0.rule == Int32(index) }) else {
            let name = eventType >= 0 && eventType < provider.eventTypeNames.count ? provider.eventTypeNames[eventType] : "?"
            return "rule '\(rule.name)' cannot match \(name) events (it matches: \(rule.eventTypes.sorted().prefix(8).joined(separator: ", "))\(rule.eventTypes.count > 8 ? ", …" : ""))"
        }
        var lines: [String] = []
        var pc = Int(entry.start)
        var acc = false
        while true {
            switch code[pc] {
            case .check(let i):
                acc = evalCheck(Int(i), ctx, scratch)
                let c = checks[Int(i)]
                let (s, n) = values(c.slot, ctx, scratch)
                let shown = n == 0 ? "<NA>" : scratch.values[s..<(s + n)].map(Ruleset.valueText).joined(separator: ",")
                lines.append("  \(acc ? "true " : "false") \(checkTexts[Int(i)])   (\(slotOperands[Int(c.slot)]) = \(shown))")
            case .jumpIfFalse(let t): if !acc { pc = Int(t); continue }
            case .jumpIfTrue(let t): if acc { pc = Int(t); continue }
            case .not:
                acc = !acc
                lines.append("        not → \(acc)")
            case .constant(let b): acc = b
            case .end:
                return "rule '\(rule.name)': \(acc ? "matched" : "did not match")\n" + lines.joined(separator: "\n")
            }
            pc += 1
        }
    }
}

/// Fields that stand for both ends of a connection.
let eitherEndFields: Set<String> = ["fd.ip", "fd.net", "fd.port", "fd.proto"]

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
