import LannerCore

/// What the reader collects from rule files before compilation (Falco's `*_info` structs).
/// Definitions keep their first position (`index`) when redefined; `visibility` is the position of the
/// latest definition or update, and bounds which earlier lists and macros an item can see.

/// A rule file to load: a display name and its text.
public struct RuleFile: Sendable {
    public var name: String
    public var text: String

    public init(name: String, text: String) {
        self.name = name
        self.text = text
    }
}

final class ListInfo {
    var name: String
    var items: [String]
    var index: Int
    var visibility: Int
    var context: [Location]

    init(name: String, items: [String], index: Int, visibility: Int, context: [Location]) {
        self.name = name
        self.items = items
        self.index = index
        self.visibility = visibility
        self.context = context
    }
}

final class MacroInfo {
    var name: String
    var condition: OriginText
    var index: Int
    var visibility: Int
    var context: [Location]
    var conditionContext: [Location]

    init(name: String, condition: OriginText, index: Int, visibility: Int, context: [Location], conditionContext: [Location]) {
        self.name = name
        self.condition = condition
        self.index = index
        self.visibility = visibility
        self.context = context
        self.conditionContext = conditionContext
    }
}

/// One entry of an exception's `fields`, `comps` or a value: a scalar or a (nested) list.
indirect enum ExceptionEntry: Equatable {
    case item(String)
    case list([ExceptionEntry])

    var isList: Bool { if case .list = self { return true } else { return false } }
    var scalar: String? { if case .item(let s) = self { return s } else { return nil } }
    var items: [ExceptionEntry] { if case .list(let l) = self { return l } else { return [] } }
}

struct ExceptionInfo {
    var name: String
    var fields: ExceptionEntry?
    var comps: ExceptionEntry?
    var values: [ExceptionEntry]
    var context: [Location]
}

final class RuleInfo {
    var name: String
    var condition: OriginText
    var output: OriginText
    var desc: String
    var priority: Priority
    var source: String
    var enabled: Bool
    var warnEvttypes: Bool
    var skipIfUnknownFilter: Bool
    var tags: Set<String>
    var exceptions: [ExceptionInfo]
    var capture: Bool
    var captureDuration: UInt64
    var index: Int = 0
    var visibility: Int = 0
    var context: [Location]
    var conditionContext: [Location]
    var outputContext: [Location]
    var unknownSource = false

    init(name: String, condition: OriginText, output: OriginText, desc: String, priority: Priority, source: String,
         enabled: Bool, warnEvttypes: Bool, skipIfUnknownFilter: Bool, tags: Set<String>, exceptions: [ExceptionInfo],
         capture: Bool, captureDuration: UInt64, context: [Location], conditionContext: [Location], outputContext: [Location]) {
        self.name = name
        self.condition = condition
        self.output = output
        self.desc = desc
        self.priority = priority
        self.source = source
        self.enabled = enabled
        self.warnEvttypes = warnEvttypes
        self.skipIfUnknownFilter = skipIfUnknownFilter
        self.tags = tags
        self.exceptions = exceptions
        self.capture = capture
        self.captureDuration = captureDuration
        self.context = context
        self.conditionContext = conditionContext
        self.outputContext = outputContext
    }
}

/// An update to an existing rule (`append: true` or `override:`): only the keys present.
struct RuleUpdate {
    var name: String
    var context: [Location]
    var source: String?
    var condition: OriginText?
    var output: OriginText?
    var desc: String?
    var tags: Set<String>?
    var exceptions: [ExceptionInfo]?
    var priority: Priority?
    var enabled: Bool?
    var warnEvttypes: Bool?
    var skipIfUnknownFilter: Bool?
    var capture: Bool?
    var captureDuration: UInt64?

    init(name: String, context: [Location]) {
        self.name = name
        self.context = context
    }

    var hasAnyValue: Bool {
        condition != nil || output != nil || desc != nil || tags != nil || exceptions != nil || priority != nil
            || enabled != nil || warnEvttypes != nil || skipIfUnknownFilter != nil || capture != nil || captureDuration != nil
    }
}

/// A name-indexed, insertion-ordered collection.
struct Indexed<T: AnyObject> {
    private(set) var items: [T] = []
    private var byName: [String: Int] = [:]

    subscript(name: String) -> T? { byName[name].map { items[$0] } }

    mutating func insert(_ item: T, name: String) {
        byName[name] = items.count
        items.append(item)
    }

    mutating func replaceItem(at i: Int, with item: T) {
        items[i] = item
    }
}

/// A semantic version as rule files state `required_engine_version`.
public struct EngineVersion: Sendable, Comparable, CustomStringConvertible {
    public var major: Int, minor: Int, patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses "x.y.z" (a leading "v" and a pre-release suffix are tolerated).
    public init?(semver: String) {
        var s = Substring(semver.trimmingCharacters(in: " \t"))
        if s.hasPrefix("v") { s = s.dropFirst() }
        let core = s.split(separator: "-", maxSplits: 1).first ?? ""
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let a = Int(parts[0]), let b = Int(parts[1]), let c = Int(parts[2]), a >= 0, b >= 0, c >= 0 else {
            return nil
        }
        self.init(a, b, c)
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: EngineVersion, b: EngineVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    /// Falco's rule: same major, and at least the required minor.patch.
    public func isCompatible(with required: EngineVersion) -> Bool {
        major == required.major && (minor > required.minor || (minor == required.minor && patch >= required.patch))
    }
}

extension String {
    /// `self` without the leading and trailing characters that are in `set` (a few characters: searched
    /// linearly, no set built per call).
    func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
