import Testing
import LannerWire

@Suite struct JSONValueTests {
    @Test func everyKindParsesToItsCase() throws {
        let v = try JSONValue.parse(Array(#"{"a":[1,-2,18446744073709551615,1.5,"x",true,null,{}],"b":{"c":""}}"#.utf8))
        #expect(v == .object([
            "a": .array([.int(1), .int(-2), .uint(18_446_744_073_709_551_615), .double(1.5), .string("x"), .bool(true), .null, .object([:])]),
            "b": .object(["c": .string("")]),
        ]))
    }

    /// Values the JSON syntax allows but Swift cannot hold used to fall through every kind and surface as the last
    /// attempt's complaint ("expected to decode Dictionary<String, Any> but found number instead"). They now say
    /// what is wrong and where.
    @Test(arguments: [
        (Array(#"{"sequence":1e400}"#.utf8), "at sequence: a number that does not fit a Double"),
        (Array(#"{"interest":{"version":1,"events":[1,-1e999]}}"#.utf8), "at interest.events[1]: a number that does not fit a Double"),
        (Array(#"{"status":""#.utf8) + [0xFF, 0xFE] + Array(#""}"#.utf8), "at status: a string that cannot be read"),
        (Array("{\"status\":\"a\u{1}b\"}".utf8), "at status: a string that cannot be read"),
        (Array(#"[{"k":"\ud800"}]"#.utf8), "at [0].k: a string that cannot be read"),
    ])
    func unreadableValuesSayWhereAndWhy(_ bytes: [UInt8], _ expected: String) {
        let e = #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(bytes) }
        #expect(e?.description.hasPrefix(expected) == true, "\(e?.description ?? "")")
        #expect(e?.description.contains("Dictionary") == false)
    }

    @Test func syntaxErrorsAndDepthAreErrorsNotCrashes() {
        for text in ["", "{", #"{"a":1} x"#, #"{"a":[1,}"#, String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)] {
            let e = #expect(throws: JSONValue.Failure.self) { try JSONValue.parse(Array(text.utf8)) }
            #expect(e?.description == "The given data was not valid JSON.", "\(text.prefix(20))")
        }
    }
}
