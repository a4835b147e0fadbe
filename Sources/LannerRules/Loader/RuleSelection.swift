/// Which loaded rules run, beyond their own `enabled` key: Falco's `-D` (disable by name), `-T` (disable by
/// tag) and `-t` (run only rules with one of these tags). Names may be globs (`Shell*`).
public struct RuleSelection: Sendable, Equatable {
    public var disabledNames: [String] = []
    public var disabledTags: Set<String> = []
    /// When not empty, only rules carrying at least one of these tags run.
    public var enabledTags: Set<String> = []

    public init(disabledNames: [String] = [], disabledTags: Set<String> = [], enabledTags: Set<String> = []) {
        self.disabledNames = disabledNames
        self.disabledTags = disabledTags
        self.enabledTags = enabledTags
    }

    public static let all = RuleSelection()

    /// Falco refuses -D/-T together with -t; so does Lanner.
    public var isConsistent: Bool { enabledTags.isEmpty || (disabledNames.isEmpty && disabledTags.isEmpty) }

    public func admits(_ r: CompiledRule) -> Bool {
        for pattern in disabledNames where RuleSelection.matches(pattern, r.name) { return false }
        if !disabledTags.isEmpty && !disabledTags.isDisjoint(with: r.tags) { return false }
        if !enabledTags.isEmpty && enabledTags.isDisjoint(with: r.tags) { return false }
        return true
    }

    static func matches(_ pattern: String, _ name: String) -> Bool {
        guard pattern.contains(where: { $0 == "*" || $0 == "?" || $0 == "[" }) else { return pattern == name }
        let p = Array(pattern.utf8), n = Array(name.utf8)
        return p.withUnsafeBytes { pb in n.withUnsafeBytes { nb in Glob.match(pb, nb, ignoreCase: false) } }
    }
}

extension LoadResult {
    /// Enabled rules at or above the minimum priority that the selection admits, in rule order.
    public func activeRules(_ selection: RuleSelection) -> [CompiledRule] {
        activeRules.filter(selection.admits)
    }
}
