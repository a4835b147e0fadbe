import Glibc

/// Falco's `regex` operator uses RE2 syntax and matches the whole value. Lanner compiles patterns with the
/// C library's POSIX extended regular expressions, after translating the RE2 forms rules use:
/// `\d \w \s` (and capitals), `(?:…)`, a leading `(?i)`, lazy quantifiers (matched greedily: for a whole-value
/// match the result is the same), and braces that do not form a repetition (RE2 reads them literally).
enum RegexTranslation {
    static func toERE(_ pattern: String) -> (pattern: String, ignoreCase: Bool) {
        var p = Array(pattern.unicodeScalars)
        var ignoreCase = false
        if p.count >= 4, String(String.UnicodeScalarView(p[0..<4])) == "(?i)" {
            ignoreCase = true
            p.removeFirst(4)
        }
        var out = ""
        var i = 0
        var inBracket = false
        func isDigit(_ c: Unicode.Scalar) -> Bool { c >= "0" && c <= "9" }
        while i < p.count {
            let c = p[i]
            if inBracket {
                out.unicodeScalars.append(c)
                if c == "]" { inBracket = false }
                i += 1
                continue
            }
            switch c {
            case "\\" where i + 1 < p.count:
                let n = p[i + 1]
                switch n {
                case "d": out += "[0-9]"
                case "D": out += "[^0-9]"
                case "w": out += "[[:alnum:]_]"
                case "W": out += "[^[:alnum:]_]"
                case "s": out += "[[:space:]]"
                case "S": out += "[^[:space:]]"
                default: out.unicodeScalars.append(c); out.unicodeScalars.append(n)
                }
                i += 2
                continue
            case "[":
                inBracket = true
                out.unicodeScalars.append(c)
                // A leading ] or ^] is part of the set.
                if i + 1 < p.count, p[i + 1] == "^" { out += "^"; i += 1 }
                if i + 1 < p.count, p[i + 1] == "]" { out += "]"; i += 1 }
                i += 1
                continue
            case "(" where i + 2 < p.count && p[i + 1] == "?" && p[i + 2] == ":":
                out += "("
                i += 3
                continue
            case "{":
                // A repetition is {n}, {n,} or {n,m}; anything else is a literal brace.
                var j = i + 1
                var digits = 0
                while j < p.count, isDigit(p[j]) { j += 1; digits += 1 }
                var ok = digits > 0
                if ok, j < p.count, p[j] == "," {
                    j += 1
                    while j < p.count, isDigit(p[j]) { j += 1 }
                }
                ok = ok && j < p.count && p[j] == "}"
                if ok {
                    out += String(String.UnicodeScalarView(p[i...j]))
                    i = j + 1
                } else {
                    out += "\\{"
                    i += 1
                }
                continue
            case "}":
                out += "\\}"
            case "?" where i > 0 && (p[i - 1] == "*" || p[i - 1] == "+" || p[i - 1] == "?" || p[i - 1] == "}"):
                break   // lazy quantifier
            default:
                out.unicodeScalars.append(c)
            }
            i += 1
        }
        return (out, ignoreCase)
    }

    /// Compiles for a whole-value match; nil when even the translated pattern is invalid.
    static func compile(_ pattern: String, into re: inout regex_t) -> Bool {
        let (ere, icase) = toERE(pattern)
        var flags = REG_EXTENDED | REG_NOSUB
        if icase { flags |= REG_ICASE }
        return regcomp(&re, "^(" + ere + ")$", flags) == 0
    }
}
