/// Falco's canonical text of a condition tree (libsinsp's `ast::as_string`): `and`/`or` in parentheses with
/// single spaces, constants escaped and quoted only when needed. `rules describe` prints this, and the peer
/// tests compare expanded conditions with it.
public enum ConditionPrinter {
    public static func string(_ e: Expr) -> String {
        var out = ""
        write(e, into: &out)
        return out
    }

    static func write(_ e: Expr, into out: inout String) {
        switch e {
        case .and(let cs, _): logical("and", cs, into: &out)
        case .or(let cs, _): logical("or", cs, into: &out)
        case .not(let c, _):
            out += "not "
            write(c, into: &out)
        case .identifier(let name, _):
            out += name
        case .unary(let o, let op, _):
            write(o, into: &out)
            out += " " + op
        case .binary(let o, let op, let v, _):
            write(o, into: &out)
            out += " \(op) "
            write(v, into: &out)
        }
    }

    static func logical(_ op: String, _ cs: [Expr], into out: inout String) {
        out += "("
        for (i, c) in cs.enumerated() {
            if i > 0 { out += " \(op) " }
            write(c, into: &out)
        }
        out += ")"
    }

    public static func string(_ o: Operand) -> String {
        var out = ""
        write(o, into: &out)
        return out
    }

    static func write(_ o: Operand, into out: inout String) {
        switch o {
        case .field(let f):
            out += f.name
            if let arg = f.arg, !arg.isEmpty { out += "[" + Escaping.escape(arg) + "]" }
        case .transformer(let t, let inner, _):
            out += t + "("
            write(inner, into: &out)
            out += ")"
        }
    }

    static func write(_ v: Value, into out: inout String) {
        switch v {
        case .single(let s, _, _): out += Escaping.escape(s)
        case .list(let items, _): out += "(" + items.map { Escaping.escape($0.value) }.joined(separator: ", ") + ")"
        case .operand(let o): write(o, into: &out)
        }
    }
}
