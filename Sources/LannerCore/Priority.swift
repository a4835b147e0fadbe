/// Falco's alert priorities: the eight syslog severities, most severe first.
///
/// The raw value is the syslog level (0 = emergency … 7 = debug), so "at least as severe as X" is
/// `p.rawValue <= X.rawValue`. Names parse case-insensitively; `info` is accepted for `informational`.
public enum Priority: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
    case emergency = 0, alert, critical, error, warning, notice, informational, debug

    /// Parses a priority name as rule files and command lines spell it (`WARNING`, `Notice`, `info`).
    public init?(name: String) {
        switch name.lowercased() {
        case "emergency": self = .emergency
        case "alert": self = .alert
        case "critical": self = .critical
        case "error": self = .error
        case "warning": self = .warning
        case "notice": self = .notice
        case "informational", "info": self = .informational
        case "debug": self = .debug
        default: return nil
        }
    }

    /// The name Falco prints in alerts (`Warning`, `Informational`).
    public var name: String {
        switch self {
        case .emergency: return "Emergency"
        case .alert: return "Alert"
        case .critical: return "Critical"
        case .error: return "Error"
        case .warning: return "Warning"
        case .notice: return "Notice"
        case .informational: return "Informational"
        case .debug: return "Debug"
        }
    }

    public var description: String { name }

    /// More severe sorts first: `.emergency < .debug`.
    public static func < (a: Priority, b: Priority) -> Bool { a.rawValue < b.rawValue }

    /// True when `self` is at least as severe as `minimum`.
    public func isAtLeast(_ minimum: Priority) -> Bool { rawValue <= minimum.rawValue }

    /// Every accepted spelling, for error messages.
    public static let spellings = "emergency, alert, critical, error, warning, notice, informational (info), debug"
}
