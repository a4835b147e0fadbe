@testable import LannerSensorAgent
import LannerWire
import Testing

/// The attach strategy on plain values: which programs an interest set attaches, in which order.
@Suite struct ProgramPlanTests {
    static func id(_ t: EventType) -> UInt16 { t.rawValue }

    @Test func rolesFollowTheNamingConvention() {
        #expect(ProgramRole.of(program: "lanner_sched_exec") == ProgramRole(kind: .always, events: []))
        #expect(ProgramRole.of(program: "lanner_exit_unlinkat") == ProgramRole(kind: .syscall, events: [Self.id(.unlinkat)]))
        #expect(ProgramRole.of(program: "lanner_enter_close") == ProgramRole(kind: .syscall, events: [Self.id(.close)], isEntry: true))
        #expect(ProgramRole.of(program: "lanner_exit_umount2") == ProgramRole(kind: .syscall, events: [Self.id(.umount2)]))
        #expect(ProgramRole.of(program: "lanner_exit_execveat")?.events == [Self.id(.execve), Self.id(.execveat)])
        #expect(ProgramRole.of(program: "lanner_raw_init_module__finit_module")
                == ProgramRole(kind: .fallback, events: [Self.id(.initModule), Self.id(.finitModule)]))
        #expect(ProgramRole.of(program: "lanner_exit_procinfo") == nil, "a sensor-made record has no syscall")
        #expect(ProgramRole.of(program: "lanner_exit_nosuch") == nil)
        #expect(ProgramRole.of(program: "something_else") == nil)
    }

    static let plan = ProgramPlan(entries: [
        .init(name: "lanner_sched_exec", role: ProgramRole.of(program: "lanner_sched_exec")!, available: true),
        .init(name: "lanner_enter_close", role: ProgramRole.of(program: "lanner_enter_close")!, available: true),
        .init(name: "lanner_exit_close", role: ProgramRole.of(program: "lanner_exit_close")!, available: true),
        .init(name: "lanner_exit_read", role: ProgramRole.of(program: "lanner_exit_read")!, available: true),
        .init(name: "lanner_exit_init_module", role: ProgramRole.of(program: "lanner_exit_init_module")!, available: false),
        .init(name: "lanner_exit_finit_module", role: ProgramRole.of(program: "lanner_exit_finit_module")!, available: true),
        .init(name: "lanner_raw_init_module__finit_module", role: ProgramRole.of(program: "lanner_raw_init_module__finit_module")!,
              available: true),
    ])

    @Test func lifecycleAlwaysSyscallsOnlyWhenWanted() {
        #expect(Self.plan.wanted(for: []) == [0])
        #expect(Self.plan.wanted(for: [Self.id(.read)]) == [0, 3])
        #expect(Self.plan.wanted(for: [Self.id(.close), Self.id(.procexit)]) == [0, 1, 2])
    }

    @Test func theStandInCoversOnlyWhatIsMissing() {
        #expect(Self.plan.wanted(for: [Self.id(.finitModule)]) == [0, 5], "finit_module has its own tracepoint")
        #expect(Self.plan.wanted(for: [Self.id(.initModule)]) == [0, 6], "init_module's is missing: the stand-in")
        #expect(Self.plan.missingNatively == [Self.id(.initModule)])
        #expect(Self.plan.unavailableEvents.isEmpty)
        var noStandIn = Self.plan
        noStandIn.entries[6].available = false
        #expect(noStandIn.unavailableEvents == [Self.id(.initModule)])
    }

    @Test func exitHooksAttachBeforeTheirEntryHooks() {
        #expect(Self.plan.attachOrder([1, 2, 0]) == [0, 2, 1])
    }
}
