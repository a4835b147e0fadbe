import Synchronization

/// What a lookup of one domain name gave (its A and AAAA records, as getaddrinfo returns them).
public enum DomainAnswer: Sendable, Equatable, CustomStringConvertible {
    /// The name's addresses, sorted and without repeats (`DomainAnswer.addresses(_:)` sorts them).
    case addresses([IPAddress])
    /// The name definitely has no address (no such name, or no A/AAAA record): its set is empty.
    case noSuchName
    /// The lookup did not give an answer (no resolver reachable, a timeout, a temporary failure): whatever was
    /// known before is kept.
    case failed(String)

    /// `.addresses` sorted and deduplicated; `.noSuchName` when `list` is empty.
    public static func of(_ list: [IPAddress]) -> DomainAnswer {
        let unique = Set(list).sorted { ($0.hi, $0.lo) < ($1.hi, $1.lo) }
        return unique.isEmpty ? .noSuchName : .addresses(unique)
    }

    /// The addresses this answer gives the name; nil for a failure (which changes nothing).
    public var addressSet: [IPAddress]? {
        switch self {
        case .addresses(let a): return a
        case .noSuchName: return []
        case .failed: return nil
        }
    }

    public var description: String {
        switch self {
        case .addresses(let a): return a.map(\.description).joined(separator: ", ")
        case .noSuchName: return "no address"
        case .failed(let why): return "lookup failed: \(why)"
        }
    }
}

/// Looks domain names up. The collector's is `SystemDomainResolver` (getaddrinfo); tests use
/// `InMemoryDomainResolver`. Called only from resolver threads (or once before evaluation starts), never
/// while an event is evaluated: a lookup may block for seconds.
public protocol DomainResolver: Sendable {
    func resolve(_ name: String) -> DomainAnswer
}

/// A resolver answering from a table held in memory, for tests and for tools that must not query DNS.
/// Names not in the table have no address. Answers can be changed while it is in use, and every lookup is
/// counted, so refresh schedules can be checked without a network.
public final class InMemoryDomainResolver: DomainResolver {
    private struct State {
        var answers: [String: DomainAnswer]
        var lookups: [String: Int] = [:]
    }
    private let state: Mutex<State>

    public init(_ answers: [String: DomainAnswer] = [:]) {
        state = Mutex(State(answers: answers))
    }

    /// Convenience: names with their addresses as text (`"10.0.0.1"`, `"::1"`). Unparseable text traps: tests only.
    public convenience init(addresses: [String: [String]]) {
        self.init(addresses.mapValues { DomainAnswer.of($0.map { IPAddress($0)! }) })
    }

    /// Changes the answer for `name` from the next lookup on.
    public func set(_ name: String, _ answer: DomainAnswer) {
        state.withLock { $0.answers[name] = answer }
    }

    /// How many times `name` was looked up.
    public func lookups(of name: String) -> Int {
        state.withLock { $0.lookups[name] ?? 0 }
    }

    public func resolve(_ name: String) -> DomainAnswer {
        state.withLock { s in
            s.lookups[name, default: 0] += 1
            return s.answers[name] ?? .noSuchName
        }
    }
}
