import Testing

/// The C structs the kernel side writes (sensor/gen/lanner_events.h) against the bytes the Swift
/// encoder wrote into proto/golden: `make -C sensor check` compiles sensor/test/golden_check.c, which
/// fills struct lanner_evt_openat with Golden.openat's values and compares it with 002-openat.bin.
@Suite struct GoldenLayoutTests {
    @Test func cStructMatchesTheSwiftGoldenRecord() {
        let (status, output) = run("/usr/bin/make", ["make", "-s", "-C", SensorEnv.sensorDir, "check"], capture: true)
        #expect(status == 0, "make -C sensor check:\n\(output)")
        #expect(output.contains("matches proto/golden/002-openat.bin"))
    }
}
