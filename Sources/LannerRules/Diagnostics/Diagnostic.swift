/// Problems found while loading rule files: stable codes, a context chain and a source snippet.
///
/// Codes are Falco's own (`LOAD_ERR_COMPILE_CONDITION`, `LOAD_UNUSED_MACRO`, …) so that users who know
/// Falco recognise them, plus a few of Lanner's (`LOAD_UNSUPPORTED_FIELD`). Every diagnostic is collected;
/// loading never stops at the first one.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }

    public var severity: Severity
    public var code: DiagnosticCode
    public var message: String
    /// Where, outermost first: file → item (rule 'x') → part (condition) → token.
    public var context: [Location]

    public init(_ severity: Severity, _ code: DiagnosticCode, _ message: String, context: [Location]) {
        self.severity = severity
        self.code = code
        self.message = message
        self.context = context
    }

    /// The innermost place (the most precise position known).
    public var location: Location? { context.last }

    /// The innermost named item (rule, macro, list, exception, …): what Falco calls the item type and name.
    public var item: Location? {
        context.last(where: { $0.kind.isItem && $0.kind != .rulesContent }) ?? context.first
    }

    public var description: String { DiagnosticRenderer.plain(self) }
}

/// A stable diagnostic code. Errors start with LOAD_ERR_, warnings do not.
public enum DiagnosticCode: String, Sendable, CaseIterable {
    // Errors (Falco falco::load_result::error_code).
    case fileRead = "LOAD_ERR_FILE_READ"
    case yamlParse = "LOAD_ERR_YAML_PARSE"
    case yamlValidate = "LOAD_ERR_YAML_VALIDATE"
    case compileCondition = "LOAD_ERR_COMPILE_CONDITION"
    case compileOutput = "LOAD_ERR_COMPILE_OUTPUT"
    case validate = "LOAD_ERR_VALIDATE"
    // Warnings (Falco falco::load_result::warning_code).
    case unknownSource = "LOAD_UNKNOWN_SOURCE"
    case unsafeNaInCondition = "LOAD_UNSAFE_NA_CHECK"
    case noEventType = "LOAD_NO_EVTTYPE"
    case unknownFilter = "LOAD_UNKNOWN_FILTER"
    case unusedMacro = "LOAD_UNUSED_MACRO"
    case unusedList = "LOAD_UNUSED_LIST"
    case unknownItem = "LOAD_UNKNOWN_ITEM"
    case deprecatedItem = "LOAD_DEPRECATED_ITEM"
    case warningIntermediateMacro = "LOAD_WARNING_INTERMEDIATE_MACRO"
    case exceptionNameNotUnique = "LOAD_EXCEPTION_NAME_NOT_UNIQUE"
    case invalidMacroName = "LOAD_INVALID_MACRO_NAME"
    case invalidListName = "LOAD_INVALID_LIST_NAME"
    case appendNoValues = "LOAD_APPEND_NO_VALUES"
    case compileConditionWarning = "LOAD_COMPILE_CONDITION"
    case unknownKey = "LOAD_UNKNOWN_KEY"
    case unavailablePlugin = "LOAD_UNAVAILABLE_PLUGIN"
    /// Lanner: the rule needs a field Lanner's collector does not supply yet; the rule is loaded but never fires.
    case unsupportedField = "LOAD_UNSUPPORTED_FIELD"

    public var isError: Bool { rawValue.hasPrefix("LOAD_ERR_") }
}

/// One step of a diagnostic's context chain.
public struct Location: Sendable, Equatable {
    /// What the step points at, using Falco's item-type names where they exist.
    public enum Kind: String, Sendable {
        case rulesContent = "rules content"
        case rulesContentItem = "rules content item"
        case requiredEngineVersion = "required_engine_version"
        case requiredPluginVersions = "required_plugin_versions"
        case requiredPluginVersionsEntry = "required_plugin_versions entry"
        case list = "list"
        case listItem = "list item"
        case macro = "macro"
        /// A macro inside a rule's condition (the rule is the item).
        case macroUsed = "used macro"
        case macroCondition = "macro condition"
        case rule = "rule"
        case ruleCondition = "rule condition"
        case conditionExpression = "condition expression"
        case ruleOutput = "rule output"
        case outputExpression = "rule output expression"
        case rulePriority = "rule priority"
        case exceptions = "exceptions"
        case exception = "exception"
        case exceptionValues = "exception values"
        case exceptionValue = "exception value"
        case override = "override"
        case valueFor = "value for"

        /// True for the top-level items Falco reports as "item type".
        public var isItem: Bool {
            switch self {
            case .list, .macro, .rule, .exception, .requiredEngineVersion, .requiredPluginVersions, .rulesContent, .rulesContentItem:
                return true
            default:
                return false
            }
        }
    }

    public var file: String
    /// 1-based line and column in `file`; 0 when unknown.
    public var line: Int
    public var column: Int
    public var kind: Kind
    /// The item's name (rule name, macro name, key name), or "".
    public var name: String

    public init(file: String, line: Int, column: Int, kind: Kind, name: String = "") {
        self.file = file
        self.line = line
        self.column = column
        self.kind = kind
        self.name = name
    }

    var place: String { line > 0 ? "\(file):\(line):\(column)" : file }
}

/// The outcome of loading rule files: every problem found, errors and warnings in the order found.
public struct LoadReport: Sendable {
    public var diagnostics: [Diagnostic] = []
    /// File name → text, for snippets.
    public var sources: [String: String] = [:]

    public init() {}

    public var errors: [Diagnostic] { diagnostics.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { diagnostics.filter { $0.severity == .warning } }
    public var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    mutating func error(_ code: DiagnosticCode, _ message: String, _ context: [Location]) {
        diagnostics.append(Diagnostic(.error, code, message, context: context))
    }

    mutating func warning(_ code: DiagnosticCode, _ message: String, _ context: [Location]) {
        diagnostics.append(Diagnostic(.warning, code, message, context: context))
    }

    /// Every diagnostic rendered with a snippet and caret.
    public func rendered() -> String {
        let lines = SourceLines(sources)
        return diagnostics.map { DiagnosticRenderer.withSnippet($0, lines: lines) }.joined(separator: "\n")
    }
}

/// Text forms of a diagnostic.
public enum DiagnosticRenderer {
    /// `file:line:col: error LOAD_ERR_…: message (in rule 'x')`.
    public static func plain(_ d: Diagnostic) -> String {
        let place = d.location?.place ?? "<input>"
        var s = "\(place): \(d.severity.rawValue) \(d.code.rawValue): \(d.message)"
        if let item = d.item, item.kind.isItem, !item.name.isEmpty {
            s += " (in \(item.kind.rawValue) '\(item.name)')"
        }
        return s
    }

    /// The plain form, the context chain, then the source line with a caret under the column.
    /// - Complexity: O(size of the diagnostic's file), to find its line; render many with `lines:`.
    public static func withSnippet(_ d: Diagnostic, sources: [String: String]) -> String {
        withSnippet(d, lines: SourceLines(sources))
    }

    /// The same, finding source lines in `lines` (which indexes each file once, for all diagnostics).
    public static func withSnippet(_ d: Diagnostic, lines: SourceLines) -> String {
        var s = plain(d)
        for loc in d.context.dropLast() where loc.line > 0 || loc.kind.isItem {
            s += "\n  in \(loc.kind.rawValue)\(loc.name.isEmpty ? "" : " '\(loc.name)'") at \(loc.place)"
        }
        if let loc = d.location, loc.line > 0, let line = lines.line(loc.line, in: loc.file) {
            let number = String(loc.line)
            let pad = String(repeating: " ", count: number.count)
            s += "\n \(number) | \(line)"
            var caret = ""
            for (i, ch) in line.enumerated() where i < loc.column - 1 { caret.append(ch == "\t" ? "\t" : " ") }
            s += "\n \(pad) | \(caret)^"
        }
        return s
    }

}

/// The lines of rule files, for snippets: each file is indexed on first use, then every line is found
/// directly. Lines end at LF; a CR before it is not part of the line.
///
/// ```swift
/// let lines = SourceLines(result.report.sources)
/// for d in result.report.diagnostics { print(DiagnosticRenderer.withSnippet(d, lines: lines)) }
/// ```
public final class SourceLines {
    let sources: [String: String]
    private let index = SourceIndex()

    public init(_ sources: [String: String]) { self.sources = sources }

    /// Line `n` (1-based) of `file`; nil past the end or for an unknown file.
    public func line(_ n: Int, in file: String) -> String? {
        guard n > 0, let f = index.file(file, in: sources), n <= f.lineStarts.count else { return nil }
        let start = f.lineStarts[n - 1]
        var end = n < f.lineStarts.count ? f.lineStarts[n] - 1 : f.bytes.count
        if end > start, f.bytes[end - 1] == 0x0d { end -= 1 }
        return String(decoding: f.bytes[start..<end], as: UTF8.self)
    }
}

@available(*, unavailable)
extension SourceLines: Sendable {}
