/// Parses Falco condition text into an `Expr`.
///
/// The grammar, as Falco's libsinsp states it (extended with `regex`, `len(` and list modifiers, as in
/// current Falco):
///
///     Expr            ::= OrExpr
///     OrExpr          ::= AndExpr ('or' (Blank AndExpr | '(' Expr ')'))*
///     AndExpr         ::= NotExpr ('and' (Blank NotExpr | '(' Expr ')'))*
///     NotExpr         ::= ('not' Blank)* ('not(' Expr ')' | Check)
///     Check           ::= Operand Condition | Identifier | '(' Expr ')'
///     Operand         ::= Field | Transformer '(' (Transformer '(' … ')' | Field) ')'
///     Condition       ::= 'exists'
///                       | NumOp (NumValue | RightOperand)
///                       | StrOp [Modifier] (StrValue | ListValue | RightOperand)
///                       | ListOp (ListValue | RightOperand)
///     RightOperand    ::= 'val(' Field ')' | Transformer '(' … ')'
///     ListValue       ::= '(' [StrValue (',' StrValue)*] ')' | Identifier
///     Field           ::= FieldName ['[' (QuotedStr | FieldArgBareStr) ']']
///     NumOp           ::= '<=' | '<' | '>=' | '>'
///     StrOp           ::= '==' | '=' | '!=' | 'glob' | 'iglob' | 'contains' | 'icontains' | 'bcontains'
///                       | 'startswith' | 'bstartswith' | 'endswith' | 'regex'
///     ListOp          ::= 'intersects' | 'in' | 'pmatch'
///     Modifier        ::= 'oneof' | 'anyof' | 'allof'
///     Transformer     ::= 'tolower' | 'toupper' | 'b64' | 'basename' | 'len'
///
///     Identifier      ::= [a-zA-Z]+[a-zA-Z0-9_]*
///     FieldName       ::= [a-zA-Z]+[a-zA-Z0-9_]*(\.[a-zA-Z]+[a-zA-Z0-9_]*)+
///     FieldArgBareStr ::= [^ \b\t\n\r\[\]"']+
///     NumValue        ::= 0[xX][0-9a-zA-Z]+ | [+\-]?[0-9]+[\.]?[0-9]*([eE][+\-][0-9]+)?
///     StrValue        ::= QuotedStr | BareStr
///     QuotedStr       ::= "…" | '…'   (backslash escapes: \b \f \n \r \t \\ \/ \" \')
///     BareStr         ::= [^ \b\t\n\r\(\),="']+
///
/// Word operators must be followed by a blank (or, for list operators and modifiers, by `(`).
/// Recursion depth is bounded (`maxDepth`), so no input can exhaust the stack.
public struct ConditionParser {
    /// A parse failure: Falco's message and the byte offset where the parser stood.
    public struct Failure: Error, Sendable, Equatable {
        public var message: String
        public var offset: Int
    }

    public static let transformers = ["tolower", "toupper", "b64", "basename", "len"]
    /// `Operator.string`, each with whether it is a word (which must be followed by a blank).
    static let stringOperators = Operator.string.map { ($0, $0.utf8.first.map(isAlpha) ?? false) }
    public static let defaultMaxDepth = 1000

    let input: [UInt8]
    let textID: Int32
    var pos = 0
    var lastToken = ""
    var depth = 0
    let maxDepth: Int

    /// Parses a whole condition.
    /// - Parameters:
    ///   - text: the condition.
    ///   - textID: recorded in every node's `Pos`, so diagnostics can find the text again.
    /// - Throws: `Failure` with Falco's message and the offset.
    public static func parse(_ text: String, textID: Int32 = 0, maxDepth: Int = defaultMaxDepth) throws(Failure) -> Expr {
        var p = ConditionParser(input: Array(text.utf8), textID: textID, maxDepth: maxDepth)
        return try p.parseAll()
    }

    init(input: [UInt8], textID: Int32, maxDepth: Int) {
        self.input = input
        self.textID = textID
        self.maxDepth = maxDepth
    }

    mutating func parseAll() throws(Failure) -> Expr {
        if input.isEmpty { throw fail("filter input string is empty") }
        let e = try parseOr()
        if pos != input.count {
            throw fail("unexpected token after '\(lastToken)', expecting 'or', 'and'")
        }
        return e
    }

    // MARK: - Grammar

    mutating func parseOr() throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        let start = here
        lexBlank()
        var children = [try parseAnd()]
        lexBlank()
        while lexKeyword("or") {
            if !lexBlank() {
                guard lexString("(") else { throw fail("expected blank or '(' after 'or'") }
                children.append(try parseEmbeddedRemainder())
            } else {
                children.append(try parseAnd())
            }
            lexBlank()
        }
        return children.count > 1 ? .or(children, start) : children[0]
    }

    mutating func parseAnd() throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        let start = here
        lexBlank()
        var children = [try parseNot()]
        lexBlank()
        while lexKeyword("and") {
            if !lexBlank() {
                guard lexString("(") else { throw fail("expected blank or '(' after 'and'") }
                children.append(try parseEmbeddedRemainder())
            } else {
                children.append(try parseNot())
            }
            lexBlank()
        }
        return children.count > 1 ? .and(children, start) : children[0]
    }

    mutating func parseNot() throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let start = here
        var negate = false
        while lexNotBlank() { negate.toggle() }
        let child: Expr
        if lexString("not(") {
            negate.toggle()
            child = try parseEmbeddedRemainder()
        } else {
            child = try parseCheck()
        }
        return negate ? .not(child, start) : child
    }

    /// After a consumed "(": an expression then ")".
    mutating func parseEmbeddedRemainder() throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let e = try parseOr()
        lexBlank()
        guard lexString(")") else { throw fail("expected a ')' token") }
        return e
    }

    mutating func parseCheck() throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let start = here
        if lexString("(") { return try parseEmbeddedRemainder() }
        if let name = lexFieldName() {
            let left = Operand.field(try parseFieldRemainder(name, at: start))
            return try parseCondition(left, at: start)
        }
        if let t = lexTransformer() {
            let left = try parseTransformerRemainder(t, at: start)
            return try parseCondition(left, at: start)
        }
        if let ident = lexIdentifier() {
            return .identifier(ident, start)
        }
        throw fail("expected a '(' token, a field check, or an identifier")
    }

    mutating func parseFieldRemainder(_ name: String, at start: Pos) throws(Failure) -> FieldRef {
        var field = FieldRef(name: name, arg: nil, pos: start)
        if lexString("[") {
            guard let arg = lexQuotedString() ?? lexFieldArgBare() else {
                throw fail("expected a valid field argument: a quoted string or a bare string" + (quoteProblem().map { ": " + $0 } ?? ""))
            }
            field.arg = arg.value
            guard lexString("]") else { throw fail("expected a ']' token") }
        }
        return field
    }

    /// After a consumed `transformer(`: a field or nested transformer, then `)`.
    mutating func parseTransformerRemainder(_ name: String, at start: Pos) throws(Failure) -> Operand {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let argStart = here
        var child: Operand?
        if let t = lexTransformer() {
            child = try parseTransformerRemainder(t, at: argStart)
        } else if let f = lexFieldName() {
            child = .field(try parseFieldRemainder(f, at: argStart))
        }
        guard let child else {
            throw fail("expected a field or a nested valid transformer: " + Self.quotedList(["val"] + Self.transformers))
        }
        lexBlank()
        guard lexString(")") else { throw fail("expected a ')' token closing the transformer") }
        return .transformer(name, child, start)
    }

    mutating func parseCondition(_ left: Operand, at start: Pos) throws(Failure) -> Expr {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        if lexWordOperator("exists") { return .unary(left, op: "exists", start) }
        lexBlank()
        // Only operators that start with the next byte can match (the order among them is kept).
        let next = peek()
        for op in Operator.numeric where op.utf8.first == next && lexString(op) {
            return .binary(left, op: Operator(op), rhs: try parseNumValueOrOperand(), start)
        }
        for (op, isWord) in Self.stringOperators where op.utf8.first == next {
            let matched = isWord ? lexWordOperator(op) : lexString(op)
            if matched {
                if let m = lexModifier() {
                    return .binary(left, op: Operator(op, modifier: m), rhs: try parseListValueOrOperand(), start)
                }
                return .binary(left, op: Operator(op), rhs: try parseStrValueOrOperand(), start)
            }
        }
        for op in Operator.list where op.utf8.first == next && lexListOperator(op) {
            return .binary(left, op: Operator(op), rhs: try parseListValueOrOperand(), start)
        }
        throw fail("expected a valid check operator: one of " + Self.quotedList(Operator.all))
    }

    mutating func parseNumValueOrOperand() throws(Failure) -> Value {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let start = here
        if let o = try parseRightOperand() { return .operand(o) }
        if let n = lexHexNumber() ?? lexNumber() { return .single(n, quoted: false, start) }
        throw fail("expected a number value or a field with a valid transformer: " + Self.quotedList(["val"] + Self.transformers))
    }

    mutating func parseStrValueOrOperand() throws(Failure) -> Value {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let start = here
        if let o = try parseRightOperand() { return .operand(o) }
        if let q = lexQuotedString() { return .single(q.value, quoted: true, start) }
        if let b = lexBareString() { return .single(b, quoted: false, start) }
        if let why = quoteProblem() { throw fail("expected a string value: " + why) }
        throw fail("expected a string value or a field with a valid transformer: " + Self.quotedList(["val"] + Self.transformers))
    }

    mutating func parseListValueOrOperand() throws(Failure) -> Value {
        try enter()
        defer { depth -= 1 }
        lexBlank()
        let start = here
        if lexString("(") {
            var items: [ListItem] = []
            lexBlank()
            if let first = lexListElement() {
                items.append(first)
                lexBlank()
                while lexString(",") {
                    lexBlank()
                    guard let next = lexListElement() else { throw fail("expected a string value" + (quoteProblem().map { ": " + $0 } ?? "")) }
                    items.append(next)
                    lexBlank()
                }
            } else if let why = quoteProblem() {
                throw fail("expected a string value: " + why)
            }
            guard lexString(")") else { throw fail("expected a ')' token") }
            return .list(items, start)
        }
        if let o = try parseRightOperand() { return .operand(o) }
        if let ident = lexIdentifier() { return .single(ident, quoted: false, start) }
        throw fail("expected a list, an identifier, or a field with a valid transformer: "
                   + Self.quotedList(["val"] + Self.transformers))
    }

    mutating func lexListElement() -> ListItem? {
        let start = here
        if let q = lexQuotedString() { return ListItem(q.value, quoted: true, pos: start) }
        if let b = lexBareString() { return ListItem(b, quoted: false, pos: start) }
        return nil
    }

    /// `val(field)` or `transformer(...)` on the right side; nil (nothing consumed) when neither.
    mutating func parseRightOperand() throws(Failure) -> Operand? {
        let start = here
        if peek() == 0x76, lexString("val(") {
            lexBlank()
            let fieldStart = here
            guard let f = lexFieldName() else { throw fail("expected a field within 'val' transformer") }
            let field = try parseFieldRemainder(f, at: fieldStart)
            lexBlank()
            guard lexString(")") else { throw fail("expected a ')' token closing the transformer") }
            return .transformer("val", .field(field), start)
        }
        if let t = lexTransformer() { return try parseTransformerRemainder(t, at: start) }
        return nil
    }

    // MARK: - Lexing

    var here: Pos { Pos(text: textID, offset: Int32(pos)) }

    mutating func enter() throws(Failure) {
        depth += 1
        if depth >= maxDepth { throw fail("exceeded max depth limit of \(maxDepth)") }
    }

    func fail(_ message: String) -> Failure { Failure(message: message, offset: pos) }

    static func quotedList(_ items: [String]) -> String { items.map { "'\($0)'" }.joined(separator: ", ") }

    func peek(_ k: Int = 0) -> UInt8? { pos + k < input.count ? input[pos + k] : nil }

    static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x08 || c == 0x0d || c == 0x0a }
    /// POSIX [:space:]: blank, tab, newline, vertical tab, form feed, carriage return.
    static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || (c >= 0x09 && c <= 0x0d) }
    static func isAlpha(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) }
    static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    static func isIdentChar(_ c: UInt8) -> Bool { isAlpha(c) || isDigit(c) || c == 0x5f }

    func text(_ from: Int, _ to: Int) -> String { String(decoding: input[from..<to], as: UTF8.self) }

    @discardableResult
    mutating func lexBlank() -> Bool {
        var found = false
        while let c = peek(), Self.isBlank(c) { pos += 1; found = true }
        return found
    }

    mutating func lexString(_ s: String) -> Bool {
        var p = pos
        for b in s.utf8 {
            guard p < input.count, input[p] == b else { return false }
            p += 1
        }
        pos = p
        lastToken = s
        return true
    }

    /// `and` / `or`: the word, not the start of a longer identifier such as `order`.
    mutating func lexKeyword(_ word: String) -> Bool {
        let save = pos, saveToken = lastToken
        guard lexString(word) else { return false }
        if let c = peek(), Self.isIdentChar(c) || c == 0x2e { pos = save; lastToken = saveToken; return false }
        return true
    }

    /// A word operator (`contains`, `exists`) must be followed by a blank or the end.
    mutating func lexWordOperator(_ word: String) -> Bool {
        let save = pos, saveToken = lastToken
        guard lexString(word) else { return false }
        if let c = peek(), !Self.isBlank(c) {
            // `exists)` / `exists` at the end are fine for the unary operator.
            if word == "exists", c == 0x29 { return true }
            pos = save
            lastToken = saveToken
            return false
        }
        return true
    }

    /// A list operator may be followed directly by `(`.
    mutating func lexListOperator(_ word: String) -> Bool {
        let save = pos, saveToken = lastToken
        guard lexString(word) else { return false }
        if let c = peek(), !(Self.isBlank(c) || c == 0x28) { pos = save; lastToken = saveToken; return false }
        return true
    }

    mutating func lexModifier() -> Operator.Modifier? {
        let save = pos, saveToken = lastToken
        lexBlank()
        guard let c = peek(), Self.modifierFirstBytes.contains(c) else {
            pos = save
            return nil
        }
        for m in Self.modifiers {
            let before = pos
            if lexString(m.rawValue) {
                if let c = peek(), !(Self.isBlank(c) || c == 0x28) { pos = before; lastToken = saveToken; continue }
                return m
            }
        }
        pos = save
        lastToken = saveToken
        return nil
    }

    mutating func lexNotBlank() -> Bool {
        guard peek() == 0x6e, peek(1) == 0x6f, peek(2) == 0x74, let c = peek(3), Self.isSpace(c) else { return false }
        pos += 3
        while let c = peek(), Self.isSpace(c) { pos += 1 }
        lastToken = "not"
        return true
    }

    mutating func lexIdentifier() -> String? {
        guard let c = peek(), Self.isAlpha(c) else { return nil }
        let start = pos
        while let c = peek(), Self.isIdentChar(c) { pos += 1 }
        lastToken = text(start, pos)
        return lastToken
    }

    mutating func lexFieldName() -> String? {
        guard let c = peek(), Self.isAlpha(c) else { return nil }
        let start = pos
        var p = pos
        while p < input.count, Self.isIdentChar(input[p]) { p += 1 }
        var segments = 0
        while p + 1 < input.count, input[p] == 0x2e, Self.isAlpha(input[p + 1]) {
            p += 1
            while p < input.count, Self.isIdentChar(input[p]) { p += 1 }
            segments += 1
        }
        guard segments > 0 else { return nil }
        pos = p
        lastToken = text(start, pos)
        return lastToken
    }

    static let transformerOpenings = transformers.map { ($0, $0 + "(") }
    /// What a transformer or modifier can start with: anything else is not one, without trying each.
    static let transformerFirstBytes = Set(transformers.compactMap(\.utf8.first))
    static let modifiers: [Operator.Modifier] = [.oneof, .anyof, .allof]
    static let modifierFirstBytes = Set(modifiers.compactMap(\.rawValue.utf8.first))

    mutating func lexTransformer() -> String? {
        guard let c = peek(), Self.transformerFirstBytes.contains(c) else { return nil }
        for (t, opening) in Self.transformerOpenings {
            let save = pos, saveToken = lastToken
            if lexString(opening) {
                lexBlank()
                return t
            }
            pos = save
            lastToken = saveToken
        }
        return nil
    }

    mutating func lexFieldArgBare() -> (value: String, raw: String)? {
        let start = pos
        while let c = peek(), !(Self.isSpace(c) || c == 0x5b || c == 0x5d || c == 0x22 || c == 0x27) { pos += 1 }
        guard pos > start else { return nil }
        lastToken = text(start, pos)
        return (lastToken, lastToken)
    }

    mutating func lexHexNumber() -> String? {
        guard peek() == 0x30, let x = peek(1), x == 0x78 || x == 0x58, let d = peek(2), Self.isAlpha(d) || Self.isDigit(d) else { return nil }
        let start = pos
        pos += 2
        while let c = peek(), Self.isAlpha(c) || Self.isDigit(c) { pos += 1 }
        lastToken = text(start, pos)
        return lastToken
    }

    mutating func lexNumber() -> String? {
        let start = pos
        var p = pos
        if p < input.count, input[p] == 0x2b || input[p] == 0x2d { p += 1 }
        let digits = p
        while p < input.count, Self.isDigit(input[p]) { p += 1 }
        guard p > digits else { return nil }
        if p < input.count, input[p] == 0x2e { p += 1 }
        while p < input.count, Self.isDigit(input[p]) { p += 1 }
        if p + 2 < input.count || p + 2 == input.count {
            if p < input.count, input[p] == 0x65 || input[p] == 0x45, p + 1 < input.count,
               input[p + 1] == 0x2b || input[p + 1] == 0x2d, p + 2 < input.count, Self.isDigit(input[p + 2]) {
                p += 2
                while p < input.count, Self.isDigit(input[p]) { p += 1 }
            }
        }
        pos = p
        lastToken = text(start, pos)
        return lastToken
    }

    mutating func lexBareString() -> String? {
        let start = pos
        while let c = peek(), !(Self.isSpace(c) || c == 0x28 || c == 0x29 || c == 0x2c || c == 0x3d || c == 0x22 || c == 0x27) {
            pos += 1
        }
        guard pos > start else { return nil }
        lastToken = text(start, pos)
        return lastToken
    }

    /// A quoted string, unescaped. An unterminated quote or a bad escape consumes nothing and returns nil,
    /// so the caller reports what it expected at the quote (and `quoteProblem` why the string is bad).
    mutating func lexQuotedString() -> (value: String, raw: String)? {
        guard let delimiter = peek(), delimiter == 0x22 || delimiter == 0x27 else { return nil }
        var p = pos + 1
        var escaped = false
        while p < input.count {
            let c = input[p]
            if escaped {
                escaped = false
            } else if c == 0x5c {
                escaped = true
            } else if c == delimiter {
                let raw = Array(input[pos...p])
                guard let value = Escaping.unescape(raw) else { return nil }
                pos = p + 1
                lastToken = String(decoding: raw, as: UTF8.self)
                return (value, lastToken)
            }
            p += 1
        }
        return nil
    }
}

extension ConditionParser {
    /// Why the quoted string at the current position cannot be read: "unterminated quoted string" or
    /// "invalid escape \q"; nil when there is no quote here or the string is well-formed.
    func quoteProblem() -> String? {
        guard let delimiter = peek(), delimiter == 0x22 || delimiter == 0x27 else { return nil }
        var p = pos + 1
        var escaped = false
        var close: Int?
        while p < input.count {
            let c = input[p]
            if escaped {
                escaped = false
            } else if c == 0x5c {
                escaped = true
            } else if c == delimiter {
                close = p
                break
            }
            p += 1
        }
        guard let close else { return "unterminated quoted string" }
        p = pos + 1
        while p < close {
            if input[p] == 0x5c {
                let raw = [delimiter, 0x5c, input[p + 1], delimiter]
                if Escaping.unescape(raw) == nil {
                    var q = p + 2
                    while q < close, input[q] & 0xc0 == 0x80 { q += 1 }
                    return "invalid escape \\" + String(decoding: input[(p + 1)..<q], as: UTF8.self)
                }
                p += 2
            } else {
                p += 1
            }
        }
        return nil
    }
}

/// Falco's string escaping for quoted condition values.
public enum Escaping {
    /// Unescapes a quoted token (delimiters included). Nil for an unsupported escape.
    static func unescape(_ raw: [UInt8]) -> String? {
        guard raw.count >= 2 else { return nil }
        let delimiter = raw[0]
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var escaped = false
        for c in raw[1..<(raw.count - 1)] {
            if !escaped {
                if c == 0x5c { escaped = true } else { out.append(c) }
                continue
            }
            switch c {
            case 0x62: out.append(0x08)            // \b
            case 0x66: out.append(0x0c)            // \f
            case 0x6e: out.append(0x0a)            // \n
            case 0x72: out.append(0x0d)            // \r
            case 0x74: out.append(0x09)            // \t
            case 0x20, 0x5c: out.append(0x5c)      // "\ " is read as a backslash, as Falco does
            case 0x2f: out.append(0x2f)            // \/
            case 0x22:
                guard delimiter == 0x22 else { return nil }
                out.append(0x22)
            case 0x27:
                guard delimiter == 0x27 else { return nil }
                out.append(0x27)
            default:
                return nil
            }
            escaped = false
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Falco's canonical printing of a constant: quoted (with escapes) when it contains a blank, quote or backslash;
    /// also when it is empty or holds a character that ends a bare word, so that the printed form reads back.
    public static func escape(_ s: String) -> String {
        var res = ""
        var needsQuotes = false
        for ch in s.unicodeScalars {
            switch ch {
            case "\u{08}": needsQuotes = true; res += "\\b"
            case "\u{0c}": needsQuotes = true; res += "\\f"
            case "\n": needsQuotes = true; res += "\\n"
            case "\r": needsQuotes = true; res += "\\r"
            case "\t": needsQuotes = true; res += "\\t"
            case " ": needsQuotes = true; res += " "
            case "\\": needsQuotes = true; res += "\\\\"
            case "\"": needsQuotes = true; res += "\\\""
            case "'": needsQuotes = true; res += "'"
            // Characters that end a bare word: printed unquoted they would not read back as one constant.
            case "(", ")", ",", "=", "\u{0b}": needsQuotes = true; res.unicodeScalars.append(ch)
            default: res.unicodeScalars.append(ch)
            }
        }
        return needsQuotes || s.isEmpty ? "\"" + res + "\"" : res
    }
}
