import Foundation
import Testing
import LannerCLIKit

@Suite struct BearerTokenTests {
    static func file(_ contents: String, mode: mode_t) throws -> String {
        let path = NSTemporaryDirectory() + "lanner-token-" + UUID().uuidString
        try contents.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test func readsATrimmedTokenWithoutWarningWhenPrivate() throws {
        let f = try Self.file("s3cret-token\n", mode: 0o600)
        defer { unlink(f) }
        let t = try BearerToken.read(file: f, environment: [:])
        #expect(t.token == "s3cret-token")
        #expect(t.warning == nil)
    }

    @Test func warnsWhenOthersCanReadIt() throws {
        let f = try Self.file("tok", mode: 0o644)
        defer { unlink(f) }
        let t = try BearerToken.read(file: f, environment: [:])
        #expect(t.token == "tok")
        #expect(t.warning?.contains("mode 644") == true)
        #expect(t.warning?.contains("chmod 600 \(f)") == true)
    }

    @Test(arguments: [("", "is empty"), ("  \n\n", "is empty"), ("two words", "more than one word")])
    func refusesUnusableFiles(_ contents: String, _ reason: String) throws {
        let f = try Self.file(contents, mode: 0o600)
        defer { unlink(f) }
        let e = #expect(throws: BearerToken.Failure.self) { try BearerToken.read(file: f, environment: [:]) }
        #expect(e?.description.contains(reason) == true, "\(e?.description ?? "")")
        #expect(e?.description.contains(f) == true)
    }

    @Test func missingFileSaysWhy() {
        let e = #expect(throws: BearerToken.Failure.self) { try BearerToken.read(file: "/nonexistent/token", environment: [:]) }
        #expect(e?.description == "cannot read token file /nonexistent/token: No such file or directory")
    }

    @Test func directoryIsNotAToken() {
        let e = #expect(throws: BearerToken.Failure.self) { try BearerToken.read(file: "/tmp", environment: [:]) }
        #expect(e?.description == "token file /tmp is not a regular file")
    }

    @Test func environmentWhenNoFile() throws {
        #expect(try BearerToken.read(file: nil, environment: ["LANNER_TOKEN": " abc \n"]).token == "abc")
        let e = #expect(throws: BearerToken.Failure.self) { try BearerToken.read(file: nil, environment: [:]) }
        #expect(e?.description.contains("--token-file") == true)
    }
}
