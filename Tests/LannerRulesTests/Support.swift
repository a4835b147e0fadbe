import Foundation
import LannerRules
import LannerTestSupport

/// An in-memory event for rule tests: field name → values. Strings live in `storage` for the test's life.
final class MapEvent {
    var type: String
    var values: [String: [FieldValue]] = [:]
    private var storage: [UnsafeMutableRawBufferPointer] = []

    init(_ type: String, _ fields: [String: Any] = [:]) {
        self.type = type
        set("evt.type", type)
        for (k, v) in fields { set(k, v) }
    }

    deinit { for s in storage { s.deallocate() } }

    func bytes(_ s: String) -> FieldValue {
        let u = Array(s.utf8)
        let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(u.count, 1), alignment: 1)
        for (i, b) in u.enumerated() { p[i] = b }
        storage.append(p)
        return .bytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(p)[0..<u.count]))
    }

    func set(_ key: String, _ v: Any) {
        switch v {
        case let s as String: values[key] = [bytes(s)]
        case let i as Int: values[key] = [.int(Int64(i))]
        case let b as Bool: values[key] = [.bool(b)]
        case let a as [String]: values[key] = a.map(bytes)
        case let ip as IPAddress: values[key] = [.ip(ip)]
        default: fatalError("unsupported test value \(v)")
        }
    }
}

/// Supplies every catalog field from a MapEvent (missing keys are missing fields).
struct MapProvider: FieldProvider {
    typealias Context = MapEvent
    let eventTypeNames: [String]
    var unsupported: Set<String> = []

    init(types: [String] = ["open", "openat", "openat2", "execve", "execveat", "connect", "close", "clone", "procexit", "creat",
                            "accept", "sendto", "setuid", "mkdir", "unlink", "unlinkat", "rename", "symlink", "ptrace"],
         unsupported: Set<String> = []) {
        eventTypeNames = types
        self.unsupported = unsupported
    }

    func extractor(for field: ResolvedField) -> ((MapEvent, EvalScratch) -> Void)? {
        if unsupported.contains(field.name) { return nil }
        let key = field.description
        return { e, scratch in
            for v in e.values[key] ?? [] { scratch.append(v) }
        }
    }

    func code(_ type: String) -> Int { eventTypeNames.firstIndex(of: type) ?? -1 }
}

/// Loads inline YAML.
func load(_ yaml: String..., minimum: LannerCore.Priority = .debug) -> LoadResult {
    var cfg = RuleLoader.Configuration()
    cfg.minimumPriority = minimum
    return RuleLoader.load(yaml.enumerated().map { RuleFile(name: "test\($0.offset).yaml", text: $0.element) }, config: cfg)
}

/// The names of the rules that fire on `event` under `mode`.
func firing(_ result: LoadResult, _ event: MapEvent, mode: RuleMatching = .all, provider: MapProvider = MapProvider()) -> [String] {
    let rs = Ruleset(result.activeRules, provider: provider, matching: mode)
    let scratch = EvalScratch()
    scratch.beginEvent()
    var out: [String] = []
    rs.evaluate(event, eventType: provider.code(event.type), scratch: scratch) { out.append(rs.rules[$0].name) }
    return out
}

import LannerCore
