import Glibc

/// Type-checks an expanded condition into a `Condition`: resolves fields, parses constants into the field's
/// type, checks operators and transformers. Collects every problem in the condition.
struct ConditionChecker {
    struct Problem {
        var message: String
        var context: [Location]
        /// An unknown field or event type (what `skip-if-unknown-filter` forgives).
        var unknown: Bool
    }

    /// Operands already resolved, shared by the checkers of one load: rules that use the same macro
    /// check the same operands again and again.
    final class OperandCache {
        struct Key: Hashable {
            var name: String
            var arg: String?
            var transformers: [String]
        }
        var operands: [Key: FieldOperand] = [:]
    }

    let config: RuleLoader.Configuration
    let contextAt: (Pos) -> [Location]
    let cache: OperandCache
    var problems: [Problem] = []
    var warnings: [(code: DiagnosticCode, message: String, context: [Location])] = []
    var usedFields: [ResolvedField] = []

    init(config: RuleLoader.Configuration, compiler: RuleCompiler) {
        self.config = config
        let c = compiler
        contextAt = { c.context(at: $0) }
        cache = OperandCache()
    }

    init(config: RuleLoader.Configuration, cache: OperandCache = OperandCache(), contextAt: @escaping (Pos) -> [Location]) {
        self.config = config
        self.contextAt = contextAt
        self.cache = cache
    }

    var error: Problem? {
        guard let first = problems.first else { return nil }
        var p = first
        p.unknown = problems.allSatisfy(\.unknown)
        if problems.count > 1 {
            p.message += problems.dropFirst().map { "; \($0.message)" }.joined()
        }
        return p
    }

    mutating func fail(_ message: String, at pos: Pos, unknown: Bool = false) {
        problems.append(Problem(message: message, context: contextAt(pos), unknown: unknown))
    }

    mutating func check(_ e: Expr) -> Condition? {
        switch e {
        case .and(let cs, _):
            let out = cs.map { check($0) }
            return out.contains(where: { $0 == nil }) ? nil : .and(out.map { $0! })
        case .or(let cs, _):
            let out = cs.map { check($0) }
            return out.contains(where: { $0 == nil }) ? nil : .or(out.map { $0! })
        case .not(let c, _):
            return check(c).map { .not($0) }
        case .identifier(let name, let p):
            fail("Undefined macro '\(name)' used in filter.", at: p)
            return nil
        case .unary(let o, _, let p):
            guard let lhs = operand(o) else { return nil }
            return .check(Check(lhs: lhs, op: .exists, modifier: nil, rhs: .none, pos: p, text: ConditionPrinter.string(e)))
        case .binary(let o, let op, let v, let p):
            return binary(e, o, op, v, p)
        }
    }

    // MARK: - Operands

    mutating func field(_ f: FieldRef) -> ResolvedField? {
        switch config.catalog.resolve(f.name, arg: f.arg) {
        case .success(let r):
            noteUse(r, at: f.pos)
            return r
        case .failure(let err):
            if case .unknown = err {
                fail("filter_check called with nonexistent field \(f.text)" + config.catalog.suggestion(for: f.name), at: f.pos, unknown: true)
            } else {
                fail(err.description, at: f.pos)
            }
            return nil
        }
    }

    /// Records a use of a resolved field (and warns when it is deprecated).
    mutating func noteUse(_ r: ResolvedField, at pos: Pos) {
        usedFields.append(r)
        if r.info.flags.contains(.deprecated) || r.name == "evt.dir" {
            warnings.append((.deprecatedItem, "usage of deprecated field '\(r.name)' has been detected in the rule condition",
                             contextAt(pos)))
        }
    }

    mutating func operand(_ o: Operand) -> FieldOperand? {
        let key = OperandCache.Key(name: o.field.name, arg: o.field.arg, transformers: o.transformers)
        if let hit = cache.operands[key] {
            noteUse(hit.field, at: o.field.pos)
            return hit
        }
        guard let resolved = resolveOperand(o) else { return nil }
        cache.operands[key] = resolved
        return resolved
    }

    mutating func resolveOperand(_ o: Operand) -> FieldOperand? {
        guard let f = field(o.field) else { return nil }
        var transformers: [Transformer] = []
        var type = f.info.type
        var isList = f.info.flags.contains(.isList)
        for name in o.transformers where name != "val" {
            guard let t = Transformer(rawValue: name) else {
                fail("unknown field transformer '\(name)'", at: o.pos)
                return nil
            }
            switch t {
            case .len:
                guard type == .string || isList else {
                    fail("transformer 'len' needs a string or list field, '\(f)' is \(type.rawValue)", at: o.pos)
                    return nil
                }
                type = .uint64
                isList = false
            default:
                guard type == .string else {
                    fail("transformer '\(t.rawValue)' needs a string field, '\(f)' is \(type.rawValue)", at: o.pos)
                    return nil
                }
            }
            transformers.append(t)
        }
        return FieldOperand(field: f, transformers: transformers)
    }

    // MARK: - Checks

    mutating func binary(_ e: Expr, _ o: Operand, _ op: Operator, _ v: Value, _ p: Pos) -> Condition? {
        guard let lhs = operand(o) else { return nil }
        guard let cop = CheckOp(op.name) else {
            fail("unknown operator '\(op.name)'", at: p)
            return nil
        }
        let text = ConditionPrinter.string(e)
        let type = lhs.type
        // Operator applicability.
        if cop.isStringOnly && type != .string && !(cop == .pmatch && type == .string) {
            fail("operator '\(op)' is not supported for field '\(lhs)' of type \(type.rawValue)", at: p)
            return nil
        }
        if cop.isOrdering && !(type.isNumeric) {
            fail("operator '\(op)' is not supported for field '\(lhs)' of type \(type.rawValue)", at: p)
            return nil
        }
        if op.modifier != nil && (!Operator.string.contains(op.name) || type != .string) {
            fail("'\(op)' is not a supported comparison operator for field '\(lhs)'", at: p)
            return nil
        }
        if cop == .pmatch && type != .string {
            fail("operator 'pmatch' needs a path field", at: p)
            return nil
        }
        // Right-hand side.
        switch v {
        case .operand(let ro):
            guard let rhs = operand(ro) else { return nil }
            guard compatible(lhs.type, rhs.type) else {
                fail("field '\(rhs)' of type \(rhs.type.rawValue) cannot be compared with '\(lhs)' of type \(lhs.type.rawValue)", at: ro.pos)
                return nil
            }
            guard !cop.isListLike || cop == .in || cop == .intersects else {
                fail("operator '\(op)' does not take a field on its right side", at: p)
                return nil
            }
            return .check(Check(lhs: lhs, op: cop, modifier: op.modifier, rhs: .field(rhs), pos: p, text: text))
        case .single(let s, let quoted, let sp):
            if s.hasPrefix("\u{0}list:") {
                let parts = s.split(separator: ":")
                fail("list '\(parts[1])' has \(parts[2]) items and cannot be used where one value is expected", at: sp)
                return nil
            }
            warnAmbiguous(s, quoted: quoted, at: sp)
            guard let c = constant(s, for: lhs, op: cop, at: sp) else { return nil }
            if lhs.field.name == "evt.num", cop == .eq, c == .uint(0) || c == .int(0) {
                return .constant(false)   // Falco's never_true idiom: evt.num starts at 1
            }
            return .check(Check(lhs: lhs, op: cop, modifier: op.modifier, rhs: .constants([c]), pos: p, text: text))
        case .list(let items, _):
            var cs: [Constant] = []
            for item in items {
                guard let c = constant(item.value, for: lhs, op: cop, at: item.pos) else { return nil }
                cs.append(c)
            }
            return .check(Check(lhs: lhs, op: cop, modifier: op.modifier, rhs: .constants(cs), pos: p, text: text))
        }
    }

    func compatible(_ a: FieldType, _ b: FieldType) -> Bool {
        if a == b { return true }
        if a.isNumeric && b.isNumeric { return true }
        if (a == .ipaddr || a == .ipnet) && (b == .ipaddr || b == .ipnet) { return true }
        return false
    }

    /// Falco warns when a constant looks like a field or a transformer call written by mistake.
    mutating func warnAmbiguous(_ s: String, quoted: Bool, at pos: Pos) {
        // Only a value with a '.' (a field) or a '(' (a transformer call) can be ambiguous.
        guard s.utf8.contains(where: { $0 == 0x2e || $0 == 0x28 }) else { return }
        let t = s.trimmingCharacters(in: " \t")
        guard !t.isEmpty, let first = t.utf8.first, ConditionParser.isAlpha(first) else { return }
        if t.contains("(") {
            if ConditionParser.transformers.contains(where: { t.hasPrefix($0 + "(") }) || t.hasPrefix("val(") {
                warnings.append((.compileConditionWarning,
                                 "'\(s)' may be a valid field transformer misused as a const string value", contextAt(pos)))
            }
            return
        }
        guard t.contains("."), case .success = config.catalog.resolve(t, arg: nil) else { return }
        if config.catalog[t] != nil || t.split(separator: ".").count >= 2 {
            warnings.append((.compileConditionWarning, "'\(s)' may be a valid field misused as a const string value", contextAt(pos)))
        }
    }

    /// Parses a constant into the left side's type.
    mutating func constant(_ s: String, for lhs: FieldOperand, op: CheckOp, at pos: Pos) -> Constant? {
        if lhs.field.name == "evt.type" && lhs.transformers.isEmpty {
            guard EventTypeResolver.universe.contains(s) else {
                fail("unknown event type \(s)", at: pos, unknown: true)
                return nil
            }
            return .string(Array(s.utf8))
        }
        switch lhs.type {
        case .string:
            if op == .bcontains || op == .bstartswith {
                guard let bytes = Self.hexBytes(s) else {
                    fail("'\(s)' is not a valid hex string for '\(op.rawValue)'", at: pos)
                    return nil
                }
                return .string(bytes)
            }
            if op == .regex {
                var re = regex_t()
                if !RegexTranslation.compile(s, into: &re) {
                    fail("invalid regular expression '\(s)'", at: pos)
                    return nil
                }
                regfree(&re)
            }
            return .string(Array(s.utf8))
        case .bool:
            switch s.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default:
                fail("'\(s)' is not a boolean value (true or false) for field '\(lhs)'", at: pos)
                return nil
            }
        case .int64, .reltime, .abstime:
            guard let n = Self.parseInt(s) else {
                fail("'\(s)' is not a valid number for field '\(lhs)'", at: pos)
                return nil
            }
            return .int(n)
        case .uint64, .port:
            if let n = Self.parseUInt(s) { return .uint(n) }
            if let n = Self.parseInt(s) { return .int(n) }   // compares as signed: never equal to an unsigned value
            fail("'\(s)' is not a valid number for field '\(lhs)'", at: pos)
            return nil
        case .ipaddr, .ipnet:
            if s.contains("/") || lhs.type == .ipnet {
                if let n = IPNetwork(s) { return .net(n) }
            } else if let a = IPAddress(s) {
                return .ip(a)
            }
            fail("'\(s)' is not a valid IP \(lhs.type == .ipnet ? "network" : "address") for field '\(lhs)'", at: pos)
            return nil
        }
    }

    static func parseInt(_ s: String) -> Int64? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return Int64(s.dropFirst(2), radix: 16) }
        if s.hasPrefix("-0x") { return Int64(s.dropFirst(3), radix: 16).map { -$0 } }
        if s.hasPrefix("+") { return Int64(s.dropFirst()) }
        return Int64(s)
    }

    static func parseUInt(_ s: String) -> UInt64? {
        if s.hasPrefix("0x") || s.hasPrefix("0X") { return UInt64(s.dropFirst(2), radix: 16) }
        if s.hasPrefix("+") { return UInt64(s.dropFirst()) }
        return UInt64(s)
    }

    static func hexBytes(_ s: String) -> [UInt8]? {
        let u = Array(s.utf8)
        guard !u.isEmpty, u.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var i = 0
        while i < u.count {
            guard let b = UInt8(String(decoding: u[i..<(i + 2)], as: UTF8.self), radix: 16) else { return nil }
            out.append(b)
            i += 2
        }
        return out
    }
}

extension CheckOp {
    var isListLike: Bool { self == .in || self == .intersects || self == .pmatch }
}
