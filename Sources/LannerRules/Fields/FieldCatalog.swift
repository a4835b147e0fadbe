import LannerCore
/// A field name as written in a rule, resolved against the catalog: the field and its argument.
public struct ResolvedField: Sendable, Hashable, CustomStringConvertible {
    public enum Argument: Sendable, Hashable {
        case index(Int)
        case key(String)
    }

    public var info: FieldInfo
    public var argument: Argument?

    public init(info: FieldInfo, argument: Argument? = nil) {
        self.info = info
        self.argument = argument
    }

    public var name: String { info.name }

    /// The canonical spelling: `proc.aname[2]`, `evt.arg[flags]`.
    public var description: String {
        switch argument {
        case .none: return info.name
        case .index(let i): return "\(info.name)[\(i)]"
        case .key(let k): return "\(info.name)[\(k)]"
        }
    }
}

/// Looks up fields by name, including argument forms: `proc.aname[2]`, `evt.arg.flags`, `evt.arg[0]`.
public struct FieldCatalog: Sendable {
    public let fields: [FieldInfo]
    private let byName: [String: Int]

    public init(_ fields: [FieldInfo]) {
        self.fields = fields
        var m: [String: Int] = [:]
        for (i, f) in fields.enumerated() where m[f.name] == nil { m[f.name] = i }
        byName = m
    }

    /// Falco's syscall-source catalog.
    public static let falco = FieldCatalog(FalcoFieldCatalog.fields)

    public subscript(name: String) -> FieldInfo? { byName[name].map { fields[$0] } }

    /// "; did you mean 'proc.name'?" for a misspelt field name, or "" when nothing is close.
    public func suggestion(for name: String) -> String {
        Suggest.closest(name, in: fields.lazy.filter { !$0.flags.contains(.hidden) }.map(\.name)).map { "; did you mean '\($0)'?" } ?? ""
    }

    /// Why a field reference cannot be used.
    public enum LookupError: Error, Sendable, Equatable, CustomStringConvertible {
        case unknown(String)
        case argumentRequired(String)
        case argumentNotAllowed(String)
        case badIndex(field: String, arg: String)

        public var description: String {
            switch self {
            case .unknown(let n): return "nonexistent field \(n)"
            case .argumentRequired(let n): return "field '\(n)' requires an argument"
            case .argumentNotAllowed(let n): return "field '\(n)' does not take an argument"
            case .badIndex(let f, let a): return "field '\(f)' needs a numeric index, got '\(a)'"
            }
        }
    }

    /// Resolves `name` (as the parser read it, dots included) with an optional bracketed argument.
    public func resolve(_ name: String, arg: String?) -> Result<ResolvedField, LookupError> {
        if let info = self[name] { return bind(info, arg: arg) }
        // `evt.arg.flags`: the longest field that takes a dotted argument and is a prefix at a dot.
        var candidate = Substring(name)
        while let dot = candidate.lastIndex(of: ".") {
            candidate = candidate[..<dot]
            if let info = self[String(candidate)], info.arg.contains(.dotted) {
                guard arg == nil else { return .failure(.unknown(name)) }
                let rest = String(name[name.index(after: dot)...])
                return bind(info, arg: rest)
            }
        }
        return .failure(.unknown(name))
    }

    func bind(_ info: FieldInfo, arg: String?) -> Result<ResolvedField, LookupError> {
        guard let arg else {
            return info.arg.contains(.required) ? .failure(.argumentRequired(info.name)) : .success(ResolvedField(info: info))
        }
        guard info.arg.contains(.required) || info.arg.contains(.allowed) else { return .failure(.argumentNotAllowed(info.name)) }
        if info.arg.contains(.index), let n = Int(arg), n >= 0 { return .success(ResolvedField(info: info, argument: .index(n))) }
        if info.arg.contains(.key) { return .success(ResolvedField(info: info, argument: .key(arg))) }
        if info.arg.contains(.index) { return .failure(.badIndex(field: info.name, arg: arg)) }
        return .success(ResolvedField(info: info, argument: .key(arg)))
    }
}
