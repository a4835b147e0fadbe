import CFuzzDriver
import LannerRules

/// Any bytes as a rule file: load, render the report. Must never crash or hang; every diagnostic names the file.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let r = RuleLoader.load([RuleFile(name: "fuzz.yaml", text: text)])
    _ = r.report.rendered()
    for d in r.report.diagnostics where d.location?.file != "fuzz.yaml" && d.location != nil {
        fatalError("diagnostic without the file: \(d)")
    }
    return 0
}

/// SwiftPM names an executable's entry `FuzzRuleLoader_main`; it hands the arguments to libFuzzer's driver.
@_cdecl("FuzzRuleLoader_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}

/// libFuzzer also links against this name.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }
