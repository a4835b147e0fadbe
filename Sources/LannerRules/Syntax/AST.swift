/// The syntax tree of a Falco condition, as the parser reads it and the loader rewrites it (macros inlined,
/// lists expanded, exceptions appended). Pure values; positions point back into the text they came from.

/// A place in the text a node was parsed from: `text` identifies the text (see `SourceTexts`), `offset`
/// is a byte offset into it. Nodes created by the loader (exceptions) point at the YAML that caused them.
public struct Pos: Sendable, Hashable {
    public var text: Int32
    public var offset: Int32

    public init(text: Int32, offset: Int32) {
        self.text = text
        self.offset = offset
    }

    public static let none = Pos(text: -1, offset: 0)
}

/// A boolean expression.
public indirect enum Expr: Sendable, Equatable {
    case and([Expr], Pos)
    case or([Expr], Pos)
    case not(Expr, Pos)
    /// A bare name: a macro reference (an unknown one is an error after macro resolution).
    case identifier(String, Pos)
    /// `operand exists`.
    case unary(Operand, op: String, Pos)
    /// `operand op value`.
    case binary(Operand, op: Operator, rhs: Value, Pos)

    public var pos: Pos {
        switch self {
        case .and(_, let p), .or(_, let p), .not(_, let p), .identifier(_, let p), .unary(_, _, let p), .binary(_, _, _, let p):
            return p
        }
    }
}

/// A field, possibly wrapped in transformers: `proc.name`, `proc.aname[2]`, `tolower(proc.name)`, `val(proc.pname)`.
public indirect enum Operand: Sendable, Equatable {
    case field(FieldRef)
    case transformer(String, Operand, Pos)

    public var pos: Pos {
        switch self {
        case .field(let f): return f.pos
        case .transformer(_, _, let p): return p
        }
    }

    /// The innermost field.
    public var field: FieldRef {
        switch self {
        case .field(let f): return f
        case .transformer(_, let inner, _): return inner.field
        }
    }

    /// Transformers from the innermost outwards (`toupper(tolower(x))` → ["tolower", "toupper"]).
    public var transformers: [String] {
        switch self {
        case .field: return []
        case .transformer(let t, let inner, _): return inner.transformers + [t]
        }
    }
}

/// A field reference with its optional `[argument]`.
public struct FieldRef: Sendable, Equatable, Hashable {
    public var name: String
    public var arg: String?
    public var pos: Pos

    public init(name: String, arg: String? = nil, pos: Pos = .none) {
        self.name = name
        self.arg = arg
        self.pos = pos
    }

    /// `name` or `name[arg]`.
    public var text: String { arg.map { "\(name)[\($0)]" } ?? name }
}

/// A comparison operator, with its optional list modifier (`startswith oneof`).
public struct Operator: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Modifier: String, Sendable { case oneof, anyof, allof }

    public var name: String
    public var modifier: Modifier?

    public init(_ name: String, modifier: Modifier? = nil) {
        self.name = name
        self.modifier = modifier
    }

    public var description: String { modifier.map { "\(name) \($0.rawValue)" } ?? name }

    public static let unary: [String] = ["exists"]
    public static let numeric: [String] = ["<=", "<", ">=", ">"]
    /// String operators as the lexer tries them (order matters: `==` before `=`).
    public static let string: [String] = ["==", "=", "!=", "glob", "iglob", "contains", "icontains", "bcontains",
                                          "startswith", "bstartswith", "endswith", "regex"]
    public static let list: [String] = ["intersects", "in", "pmatch"]
    /// Every operator name, for messages and exception `comps` validation.
    public static var all: [String] { unary + numeric + string + list }
    public var isListOperator: Bool { modifier == nil && Operator.list.contains(name) }
}

/// The right-hand side of a comparison.
public enum Value: Sendable, Equatable {
    /// A single constant. `quoted` tells a quoted string from a bare word (bare words may name lists).
    case single(String, quoted: Bool, Pos)
    /// A parenthesised list of constants.
    case list([ListItem], Pos)
    /// A field on the right: `val(proc.pname)` or a transformer such as `toupper(proc.pname)`.
    case operand(Operand)

    public var pos: Pos {
        switch self {
        case .single(_, _, let p), .list(_, let p): return p
        case .operand(let o): return o.pos
        }
    }
}

/// One item of a list value.
public struct ListItem: Sendable, Equatable {
    public var value: String
    public var quoted: Bool
    public var pos: Pos

    public init(_ value: String, quoted: Bool = false, pos: Pos = .none) {
        self.value = value
        self.quoted = quoted
        self.pos = pos
    }
}

extension Expr {
    /// Calls `body` on every node, parents before children.
    public func walk(_ body: (Expr) -> Void) {
        body(self)
        switch self {
        case .and(let cs, _), .or(let cs, _): for c in cs { c.walk(body) }
        case .not(let c, _): c.walk(body)
        default: break
        }
    }

    /// Every field referenced, left and right sides.
    public var fields: [FieldRef] {
        var out: [FieldRef] = []
        walk { e in
            switch e {
            case .unary(let o, _, _): out.append(o.field)
            case .binary(let o, _, let v, _):
                out.append(o.field)
                if case .operand(let r) = v { out.append(r.field) }
            default: break
            }
        }
        return out
    }
}
