import CFuzzDriver
import LannerRules

/// Any bytes as a condition: parse, print, re-parse the printed form. Must never crash or hang; a printed
/// condition must parse again.
func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    guard let data else { return 0 }
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    if let e = try? ConditionParser.parse(text) {
        let printed = ConditionPrinter.string(e)
        if (try? ConditionParser.parse(printed)) == nil { fatalError("printed form does not parse: \(printed)") }
    }
    return 0
}

/// SwiftPM names an executable's entry `FuzzConditionParser_main`; it hands the arguments to libFuzzer's driver.
@_cdecl("FuzzConditionParser_main")
func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var c = argc
    var v = argv
    return LLVMFuzzerRunDriver(&c, &v) { data, size in fuzz(data, size) }
}

/// libFuzzer also links against this name.
@_cdecl("LLVMFuzzerTestOneInput")
func testOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 { fuzz(data, size) }
