import Foundation
import Testing
import LannerRules
import LannerTestSupport

/// Every file of ../shared/peer/falco-rule-tests/engine-unit/ (Falco's test_rule_loader.cpp cases) with the
/// outcome EXPECTED.md §4 states. A case Lanner decides not to match carries `differs:` with the reason.
@Suite struct PeerEngineUnitTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var file: String
        var ok = true
        /// Substrings that must each appear in some error (when !ok) .
        var errors: [String] = []
        var warnings: [String] = []
        var absentWarnings: [String] = []
        var noWarnings = false
        var compiled: (rule: String, text: String)?
        var enabled: Int?
        var described: [(key: String, value: String)] = []
        /// Why Lanner's outcome differs from Falco's here (then only the rest is checked).
        var differs: String?

        var testDescription: String { file }
    }

    static let appendDeprecated = "'append' key is deprecated. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."
    static let manyEvttypes = "Rule matches too many evt.type values"

    static let cases: [Case] = [
        Case(file: "list_append", compiled: ("legit_rule", "(evt.type = open and proc.name in (ash, bash, csh, ksh, sh, tcsh, zsh, dash, pwsh))")),
        Case(file: "condition_append", compiled: ("legit_rule", "(evt.type = open and (((proc.aname = sshd and proc.name != sshd) or proc.name = systemd-logind or proc.name = login) or proc.name = ssh))")),
        Case(file: "rule_override_append", absentWarnings: [appendDeprecated],
             described: [("condition", "evt.type=open and proc.name = cat"), ("output", "user=%user.name command=%proc.cmdline file=%fd.name proc=%proc.name"),
                         ("description", "legit rule description with append")]),
        Case(file: "rule_append", warnings: [appendDeprecated], compiled: ("legit_rule", "(evt.type = open and proc.name = cat)")),
        Case(file: "rule_override_replace",
             described: [("condition", "evt.type = close"), ("output", "user=%user.name command=%proc.cmdline file=%fd.name"),
                         ("description", "a replaced legit description")]),
        Case(file: "rule_override_append_replace",
             described: [("condition", "evt.type = close and proc.name = cat"), ("output", "user=%user.name command=%proc.cmdline file=%fd.name"),
                         ("description", "a replaced legit description"), ("priority", "Warning")]),
        Case(file: "rule_incorrect_override_type", ok: false, errors: ["Key 'priority' cannot be appended to, use 'replace' instead"]),
        Case(file: "rule_incorrect_append_override", ok: false,
             errors: ["Keys 'override' and 'append: true' cannot be used together. Add an 'append' entry (e.g. 'condition: append') under 'override' instead."],
             warnings: [appendDeprecated]),
        Case(file: "macro_override_append_before_macro_definition", ok: false,
             errors: ["Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"]),
        Case(file: "macro_override_replace_before_macro_definition", compiled: ("test_rule", "evt.type in (open, openat)")),
        Case(file: "macro_append_before_macro_definition", ok: false,
             errors: ["Macro uses 'append' or 'override.condition: append' but no macro by that name already exists"]),
        Case(file: "macro_override_append_after_macro_definition", compiled: ("test_rule", "(evt.type in (open, openat) or evt.type = openat2)")),
        Case(file: "macro_append_after_macro_definition", compiled: ("test_rule", "(evt.type in (open, openat) or evt.type = openat2)")),
        Case(file: "rule_override_append_before_rule_definition", ok: false,
             errors: ["Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"]),
        Case(file: "rule_override_replace_before_rule_definition", ok: false,
             errors: ["An 'override.<key>: replace' to a rule was requested but no rule by that name already exists"]),
        Case(file: "rule_append_before_rule_definition", ok: false,
             errors: ["Rule uses 'append' or 'override.<key>: append' but no rule by that name already exists"]),
        Case(file: "rule_override_append_after_rule_definition", compiled: ("test_rule", "(evt.type in (open, openat) and proc.name = cat)")),
        Case(file: "rule_append_after_rule_definition", compiled: ("test_rule", "(evt.type in (open, openat) and proc.name = cat)")),
        Case(file: "list_override_append_wrong_key", compiled: ("test_rule", "(evt.type = execve and proc.name in (blkid))")),
        Case(file: "list_override_append_before_list_definition", ok: false,
             errors: ["List uses 'append' or 'override.items: append' but no list by that name already exists"]),
        Case(file: "list_override_replace_before_list_definition", compiled: ("test_rule", "(evt.type = execve and proc.name in (blkid))")),
        Case(file: "list_append_before_list_definition", ok: false,
             errors: ["List uses 'append' or 'override.items: append' but no list by that name already exists"]),
        Case(file: "list_override_append_after_list_definition",
             compiled: ("test_rule", "(evt.type = execve and proc.name in (blkid, csi-provisioner, csi-attacher))")),
        Case(file: "list_append_after_list_definition",
             compiled: ("test_rule", "(evt.type = execve and proc.name in (blkid, csi-provisioner, csi-attacher))")),
        Case(file: "rule_override_without_field", ok: false, errors: ["An append override for 'condition' was specified but 'condition' is not defined"]),
        Case(file: "rule_override_extra_field", ok: false, errors: ["Unexpected key 'priority'"]),
        Case(file: "missing_enabled_key_with_override", ok: false, errors: ["'enabled' was specified but 'enabled' is not defined"]),
        Case(file: "rule_override_with_enabled", noWarnings: true, enabled: 1),
        Case(file: "rule_override_exceptions_required_fields", ok: false, errors: ["Item has no mapping for key 'fields'"], noWarnings: true),
        Case(file: "rule_not_enabled", noWarnings: true, enabled: 0),
        Case(file: "rule_enabled_warning",
             warnings: ["The standalone 'enabled' key usage is deprecated. The correct approach requires also a 'replace' entry under the 'override' key (i.e. 'enabled: replace')."],
             enabled: 1),
        Case(file: "no_evttype_warning_for_narrow_condition", absentWarnings: [manyEvttypes]),
        Case(file: "evttype_warning_for_broad_condition", warnings: [manyEvttypes]),
        Case(file: "evttype_warning_disabled_by_warn_evttypes", absentWarnings: [manyEvttypes]),
        Case(file: "no_evttype_warning_for_unsatisfiable_condition", absentWarnings: [manyEvttypes], enabled: 1),
        Case(file: "no_evttype_warning_for_evt_type_contradiction", absentWarnings: [manyEvttypes]),
        Case(file: "no_evttype_warning_for_never_true_macro", absentWarnings: [manyEvttypes], enabled: 2),
        Case(file: "rule_enabled_is_ignored_by_append", enabled: 0),
        Case(file: "rewrite_rule", compiled: ("test_rule", "proc.name = cat"), enabled: 1),
        Case(file: "required_engine_version_semver", noWarnings: true),
        Case(file: "required_engine_version_not_semver", noWarnings: true),
        Case(file: "required_engine_version_invalid", ok: false, errors: ["Unable to parse engine version"]),
        Case(file: "list_value_with_escaping", warnings: ["List not referred to by any other rule/macro"]),
        Case(file: "exceptions_condition",
             compiled: ("test_rule", "((proc.cmdline contains curl or proc.cmdline contains wget) and not proc.cmdline contains \"curl 127.0.0.1\")")),
        Case(file: "macro_name_invalid", warnings: ["Macro has an invalid name. Macro names should match a regular expression"]),
        Case(file: "list_name_invalid", warnings: ["List has an invalid name. List names should match a regular expression"]),
        Case(file: "exceptions_append_no_values", warnings: ["Overriding/appending exception with no values"]),
        Case(file: "exceptions_override_no_values", warnings: ["Overriding/appending exception with no values"]),
        Case(file: "exceptions_names_not_unique_1", warnings: ["Multiple definitions of exception"]),
        Case(file: "exceptions_names_not_unique_2",
             differs: "the transcribed file holds only the base rule, with no exceptions to repeat; it must load cleanly"),
        Case(file: "exceptions_values_rhs_field_ambiguous", warnings: ["'proc.pname' may be a valid field misused as a const string value"],
             compiled: ("test_rule", "(evt.type = open and not proc.name = proc.pname)")),
        Case(file: "exceptions_values_rhs_field_ambiguous_quoted", warnings: ["'proc.pname' may be a valid field misused as a const string value"],
             compiled: ("test_rule", "(evt.type = open and not proc.name = proc.pname)")),
        Case(file: "exceptions_values_rhs_field_ambiguous_space_quoted", warnings: ["'proc.pname ' may be a valid field misused as a const string value"],
             compiled: ("test_rule", "(evt.type = open and not proc.name = \"proc.pname \")")),
        Case(file: "exceptions_values_rhs_transformer", compiled: ("test_rule", "(evt.type = open and not proc.name = toupper(proc.pname))")),
        Case(file: "exceptions_values_transformer_value_quoted", compiled: ("test_rule", "(evt.type = open and not proc.name = toupper(proc.pname))")),
        Case(file: "exceptions_values_transformer_space",
             warnings: ["'toupper( proc.pname)' may be a valid field transformer misused as a const string value"],
             compiled: ("test_rule", "(evt.type = open and not proc.name = \"toupper( proc.pname)\")")),
        Case(file: "exceptions_values_transformer_space_quoted",
             warnings: ["'toupper( proc.pname)' may be a valid field transformer misused as a const string value"],
             compiled: ("test_rule", "(evt.type = open and not proc.name = \"toupper( proc.pname)\")")),
        Case(file: "exceptions_fields_transformer", noWarnings: true, compiled: ("test_rule", "(evt.type = open and not tolower(proc.name) = test)")),
        Case(file: "exceptions_fields_transformer_quoted", noWarnings: true, compiled: ("test_rule", "(evt.type = open and not tolower(proc.name) = test)")),
        Case(file: "exceptions_fields_transformer_space_quoted", noWarnings: true,
             compiled: ("test_rule", "(evt.type = open and not tolower(proc.name) = test)")),
        Case(file: "redefine_rule_different_source", ok: false, errors: ["Rule has been re-defined with a different source"]),
        Case(file: "append_across_sources", ok: false, errors: ["Rule has been re-defined with a different source"]),
        Case(file: "selective_replace_across_sources", ok: false, errors: ["Rule has been re-defined with a different source"]),
        Case(file: "empty_source_addl_rule"),
        Case(file: "empty_string_source_addl_rule"),
        Case(file: "rule_with_warn_evttypes"),
        Case(file: "rule_with_skip_if_unknown_filter"),
        Case(file: "override_replace_warn_evttypes"),
        Case(file: "override_replace_capture"),
        Case(file: "override_replace_tags"),
        Case(file: "rule_unknown_key", warnings: ["Unknown key 'typo_field'"]),
        Case(file: "list_unknown_key", warnings: ["Unknown key 'typo_field'"]),
        Case(file: "macro_unknown_key", warnings: ["Unknown key 'typo_field'"]),
        Case(file: "list_cross_type_key_priority", warnings: ["Unknown key 'priority'"]),
        Case(file: "deprecated_field_in_output", warnings: ["usage of deprecated field 'evt.dir' has been detected in the rule output"], enabled: 1),
        Case(file: "no_deprecated_field_warning_in_output", absentWarnings: ["evt.dir"], enabled: 1),
        Case(file: "deprecated_evt_dir_folded_scalar_condition_snippet", warnings: ["evt.dir"]),
        Case(file: "deprecated_evt_dir_via_macro_folded_scalar_condition_snippet", warnings: ["evt.dir"]),
        Case(file: "rule_capture_enabled", described: [("capture", "true")]),
        Case(file: "rule_capture_disabled_by_default", described: [("capture", "false"), ("capture_duration", "0u")]),
        Case(file: "rule_capture_duration", described: [("capture_duration", "10000u")]),
        Case(file: "rule_override_capture_replace", described: [("capture", "false")]),
        Case(file: "rule_override_capture_duration_replace", described: [("capture_duration", "15000u")]),
        Case(file: "rule_capture_duration_wrong_type", ok: false),
        Case(file: "rule_capture_wrong_type"),
        Case(file: "exceptions_modifier_op_startswith_oneof",
             compiled: ("test_rule", "(evt.type = open and not proc.name startswith oneof (sshd, sudo, systemd))")),
        Case(file: "exceptions_modifier_op_contains_allof", compiled: ("test_rule", "(evt.type = execve and not proc.cmdline contains allof (curl, bash))")),
        Case(file: "exceptions_modifier_op_endswith_anyof", compiled: ("test_rule", "(evt.type = open and not fd.name endswith anyof (.sh, .py, .pl))")),
        Case(file: "exceptions_modifier_op_glob_oneof"),
        Case(file: "exceptions_modifier_op_icontains_oneof"),
        Case(file: "exceptions_modifier_op_multi_field_mixed",
             compiled: ("test_rule", "(evt.type = open and not (proc.name startswith oneof (sshd, sudo) and fd.name startswith /etc/))")),
        Case(file: "exceptions_modifier_op_multi_field_both_compound"),
        Case(file: "exceptions_modifier_op_invalid_base_operator", ok: false, errors: ["'frobulate oneof' is not a supported comparison operator"]),
        Case(file: "exceptions_modifier_op_invalid_base_operator_scalar_field", ok: false, errors: ["comps must be one of"]),
        Case(file: "exceptions_modifier_op_list_op_with_modifier", ok: false, errors: ["'in oneof' is not a supported comparison operator"]),
        Case(file: "exceptions_modifier_op_numeric_op_with_modifier", ok: false, errors: ["'>= oneof' is not a supported comparison operator"]),
        Case(file: "exceptions_modifier_op_modifier_alone", ok: false, errors: ["'oneof' is not a supported comparison operator"]),
        Case(file: "exceptions_modifier_op_list_op_unchanged"),
        Case(file: "exceptions_modifier_op_eq_oneof", compiled: ("test_rule", "(evt.type = execve and not proc.name = oneof (nmap, masscan, nikto))")),
        Case(file: "exceptions_modifier_op_regex_oneof"),
        Case(file: "exceptions_modifier_op_scalar_value_parenthesised",
             compiled: ("test_rule", "(evt.type = open and not proc.name startswith oneof (sshd))")),
        Case(file: "exceptions_modifier_op_all_three_modifiers",
             compiled: ("test_rule", "(evt.type = execve and not proc.name startswith oneof (ssh, su) and not proc.name startswith anyof (ssh, su) and not proc.cmdline contains allof (curl, ci.internal))")),
        Case(file: "exceptions_modifier_op_comp_whitespace_normalized",
             compiled: ("test_rule", "(evt.type = open and not proc.name startswith oneof (sshd, sudo) and not (proc.name contains agent and fd.name startswith anyof (/etc/, /var/)))")),
        Case(file: "exceptions_modifier_op_str_op_multi_field_regression",
             compiled: ("test_rule", "(evt.type = open and not (proc.name contains agent and fd.name startswith /var/log/ and proc.exepath = /usr/bin/prometheus))")),
    ]

    static func described(_ r: CompiledRule, _ key: String) -> String {
        switch key {
        case "condition": return r.conditionText
        case "output": return r.outputText
        case "description": return r.description
        case "priority": return r.priority.name
        case "capture": return String(r.capture)
        case "capture_duration": return "\(r.captureDuration)u"
        default: return "?"
        }
    }

    /// Falco's tests prepend this rule to the files that are only an `exceptions:` block.
    static let baseRule = """
        - rule: test_rule
          desc: test rule
          condition: evt.type = open
          output: command=%proc.cmdline
          priority: INFO

        """

    static func load(_ name: String) throws -> LoadResult {
        var f = try Peer.file("falco-rule-tests/engine-unit/\(name).yaml")
        if f.text.hasPrefix(" ") { f.text = baseRule + f.text }
        return RuleLoader.load([f])
    }

    @Test(arguments: cases)
    func caseGivesTheExpectedOutcome(_ c: Case) throws {
        let result = try Self.load(c.file)
        let report = result.report
        let dump = report.rendered()
        #expect(report.hasErrors == !c.ok, "\(c.file): expected \(c.ok ? "ok" : "error"):\n\(dump)")
        for e in c.errors { #expect(report.errors.contains { $0.message.contains(e) }, "\(c.file): no error containing \"\(e)\":\n\(dump)") }
        if c.differs != nil { return }
        for w in c.warnings { #expect(report.warnings.contains { $0.message.contains(w) }, "\(c.file): no warning containing \"\(w)\":\n\(dump)") }
        for w in c.absentWarnings { #expect(!report.warnings.contains { $0.message.contains(w) }, "\(c.file): unexpected warning \"\(w)\":\n\(dump)") }
        if c.noWarnings { #expect(report.warnings.isEmpty, "\(c.file): expected no warnings:\n\(dump)") }
        if let (rule, text) = c.compiled {
            let r = try #require(result.rule(named: rule), "\(c.file): no rule \(rule):\n\(dump)")
            #expect(r.expandedText == text)
        }
        if let n = c.enabled { #expect(result.rules.filter(\.enabled).count == n, "\(c.file): enabled rules") }
        for (key, value) in c.described {
            let r = try #require(result.rules.first, "\(c.file): no rule")
            #expect(Self.described(r, key) == value, "\(c.file): described \(key)")
        }
        // Every diagnostic names a file, and a line when it is about something inside the file.
        for d in report.diagnostics {
            #expect(d.location?.file.hasSuffix(".yaml") == true, "\(c.file): \(d)")
        }
    }

    @Test func everyEngineUnitFileIsCovered() throws {
        let dir = Peer.root.appendingPathComponent("falco-rule-tests/engine-unit")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".yaml") }
            .map { String($0.dropLast(5)) }
        let covered = Set(Self.cases.map(\.file))
        #expect(Set(files).subtracting(covered).sorted() == [], "files without an expectation")
        print("engine-unit: \(Self.cases.count) of \(files.count) files have expectations")
    }

    @Test func snippetsPointInsideFoldedConditions() throws {
        for name in ["deprecated_evt_dir_folded_scalar_condition_snippet", "deprecated_evt_dir_via_macro_folded_scalar_condition_snippet"] {
            let result = try Self.load(name)
            let w = try #require(result.report.warnings.first { $0.message.contains("evt.dir") })
            let rendered = DiagnosticRenderer.withSnippet(w, sources: result.report.sources)
            let snippet = rendered.split(separator: "\n").first { $0.contains(" | ") && !$0.contains("^") } ?? ""
            #expect(!snippet.contains("condition: >"), "\(name): the snippet shows the condition text, not the block header:\n\(rendered)")
            #expect(snippet.contains("evt.dir"), "\(name):\n\(rendered)")
            if name.contains("macro") { #expect(rendered.contains("spawned_process"), "\(name): the macro is named:\n\(rendered)") }
        }
    }
}
