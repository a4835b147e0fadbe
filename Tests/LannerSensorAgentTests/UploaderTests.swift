import Foundation
import Glibc
import Testing
@testable import LannerSensorAgent
import LannerHTTP2
import LannerWire

/// The uploader against in-process HTTP/2 servers: acknowledgements, interest, refusals, compression fallback.
@Suite struct UploaderTests {
    /// A server answering with `answer(body)`, recording what it got.
    final class Stub: @unchecked Sendable {
        let server: H2Server
        private let lock = NSLock()
        private var _bodies: [[UInt8]] = []
        var bodies: [[UInt8]] { lock.lock(); defer { lock.unlock() }; return _bodies }

        init(_ answer: @escaping @Sendable ([UInt8]) -> H2Response) throws {
            let box = Box()
            server = try H2Server(host: "127.0.0.1", port: 0) { req, respond in
                box.stub?.record(req.body)
                respond(answer(req.body))
            }
            box.stub = self
            try server.start()
        }

        func record(_ b: [UInt8]) { lock.lock(); _bodies.append(b); lock.unlock() }

        final class Box: @unchecked Sendable { weak var stub: Stub? }
    }

    static func ack(_ body: [UInt8], interest: Interest?) -> H2Response {
        let seq = (try? BatchDecoder.decode(body).header.sequence) ?? 0
        let i = interest.map { ",\"interest\":" + $0.json } ?? ""
        return H2Response(status: 200, headers: [("content-type", "application/json")],
                          body: Array("{\"sequence\":\(seq),\"status\":\"committed\",\"events\":0,\"alerts\":0\(i)}".utf8))
    }

    static func run(_ uploader: Uploader, _ spool: Spool, until done: () -> Bool) {
        let t = Thread { uploader.run() }
        t.start()
        let deadline = Date().addingTimeInterval(20)
        while !done() && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        spool.close()
        uploader.finish(by: Date().addingTimeInterval(2))
        while !t.isFinished { Thread.sleep(forTimeInterval: 0.01) }
    }

    @Test func acknowledgementsCarryTheInterestToTheAgent() throws {
        let wanted = Interest(events: [EventType.execve.rawValue, EventType.openat.rawValue, EventType.procexit.rawValue])
        let stub = try Stub { Self.ack($0, interest: wanted) }
        let spool = Spool(maxBytes: 1 << 20)
        for b in try SpoolTests.batches(3) { spool.push(b) }
        let up = Uploader(endpoint: CollectorEndpoint(url: "http://127.0.0.1:\(stub.server.boundPort)")!, token: "t", spool: spool, log: { _ in })
        let got = LockedLines()
        up.onAck = { ack in got.append(ack.interest?.description ?? "none") }
        Self.run(up, spool) { spool.isEmpty }
        #expect(up.shippedBatches == 3)
        #expect(got.all == Array(repeating: wanted.description, count: 3))
    }

    @Test func aCollectorThatRefusesCompressionGetsUncompressedBatches() throws {
        // An older collector: any flag is a 400 with its "unsupported flags" text.
        let stub = try Stub { body in
            if body.count > 12 && body[12] != 0 {
                return H2Response(status: 400, body: Array("{\"error\":\"malformed batch: batch flags 0x1 at byte 12 are not supported (this collector knows 0x0; bit 0, zstd-compressed records, is not supported in format 1.0)\"}".utf8))
            }
            return Self.ack(body, interest: nil)
        }
        let spool = Spool(maxBytes: 1 << 20)
        let c = Zstd.Compressor()
        let plain = try SpoolTests.batches(3)
        for var b in plain {
            b.body = try #require(BatchCompression.compress(b.body, with: c))
            spool.push(b)
        }
        let lines = LockedLines()
        let up = Uploader(endpoint: CollectorEndpoint(url: "http://127.0.0.1:\(stub.server.boundPort)")!, token: "t", spool: spool,
                          log: { lines.append($0) })
        let refused = LockedLines()
        up.onCompressionRefused = { refused.append("refused") }
        Self.run(up, spool) { spool.isEmpty }
        #expect(up.shippedBatches == 3 && up.rejectedEvents == 0, "\(lines.all)")
        #expect(refused.all == ["refused"])
        let accepted = stub.bodies.filter { $0[12] == 0 }
        #expect(accepted == plain.map(\.body), "byte for byte the uncompressed batches")
        #expect(lines.all.contains { $0.contains("sending uncompressed from now on") })
    }

    @Test func aRejectedBatchIsDroppedAndCountedAndAnUnreadableAckIsSaidOnce() throws {
        let stub = try Stub { body in
            let seq = (try? BatchDecoder.decode(body).header.sequence) ?? 0
            if seq & 0xffff_ffff == 2 { return H2Response(status: 400, body: Array("{\"error\":\"malformed batch: test\"}".utf8)) }
            return H2Response(status: 200, body: Array("not json".utf8))
        }
        let spool = Spool(maxBytes: 1 << 20)
        let bs = try SpoolTests.batches(3)
        for b in bs { spool.push(b) }
        let lines = LockedLines()
        let up = Uploader(endpoint: CollectorEndpoint(url: "http://127.0.0.1:\(stub.server.boundPort)")!, token: "t", spool: spool,
                          log: { lines.append($0) })
        Self.run(up, spool) { spool.isEmpty }
        #expect(up.shippedBatches == 2)
        #expect(up.rejectedEvents == UInt64(bs[1].events))
        #expect(lines.all.filter { $0.contains("cannot read the collector's acknowledgement") }.count == 1, "\(lines.all)")
        #expect(lines.all.contains { $0.contains("rejected batch \(bs[1].sequence) (400)") && $0.contains("reported as sensor drops") })
    }

    @Test(arguments: [
        ("", "not JSON"),
        ("[1]", "not a JSON object"),
        ("{\"interest\":3}", "\"interest\" is not an object"),
        ("{\"interest\":{\"events\":[1]}}", "\"interest.version\" is missing"),
        ("{\"interest\":{\"version\":-1,\"events\":[1]}}", "\"interest.version\" is missing or not a 32-bit"),
        ("{\"interest\":{\"version\":1,\"events\":[0]}}", "\"interest.events\"[0] is 0, not an event id"),
        ("{\"interest\":{\"version\":1,\"events\":[70000]}}", "\"interest.events\"[0] is 70000"),
        ("{\"interest\":{\"version\":1,\"events\":\"x\"}}", "\"interest.events\" is missing or not an array"),
        ("{\"interest\":{\"version\":1,\"events\":[1,9]}}", "but the events and omitted parts listed have version"),
        ("{\"interest\":{\"version\":1,\"events\":[1],\"omit\":\"open.nameraw\"}}", "\"interest.omit\" is not an array"),
        ("{\"interest\":{\"version\":1,\"events\":[1],\"omit\":[\"Open Nameraw\"]}}", "\"interest.omit\"[0] is Open Nameraw, not a part name"),
        ("{\"interest\":{\"version\":1,\"events\":[1],\"omit\":[3]}}", "\"interest.omit\"[0] is 3, not a part name"),
        ("{\"sequence\":1e400,\"interest\":{\"version\":1,\"events\":[1]}}", "at sequence: a number that does not fit a Double"),
    ])
    func malformedAcknowledgementsAreExplained(_ body: String, _ expected: String) {
        #expect(throws: CollectorAck.Failure.self) { try CollectorAck.parse(Array(body.utf8)) }
        do { _ = try CollectorAck.parse(Array(body.utf8)) } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func anAcknowledgementWithoutInterestIsFine() throws {
        let a = try CollectorAck.parse(Array("{\"sequence\":5,\"status\":\"duplicate\",\"events\":0,\"alerts\":0}".utf8))
        #expect(a == CollectorAck(sequence: 5, status: "duplicate", interest: nil))
        let i = Interest(events: [9, 1, 9, 12])
        #expect(i.events == [1, 9, 12])
        #expect(try CollectorAck.parse(Array("{\"interest\":\(i.json)}".utf8)).interest == i)
        #expect(Interest(events: [12, 1, 9]).version == i.version, "the version depends on the set only")
        #expect(Interest(events: [1, 9]).version != i.version)
    }

    /// `omit` is part of the content and the version; omitting nothing is what an older collector sent, so an older
    /// sensor still accepts that, and refuses (by version) a set it could not honour.
    @Test func omittedPartsAreInTheVersionAndTheJSON() throws {
        let plain = Interest(events: [1, 9])
        let omitting = Interest(events: [9, 1], omit: ["open.nameraw", "open.nameraw"])
        #expect(omitting.omit == ["open.nameraw"])
        #expect(omitting.version != plain.version)
        #expect(Interest(events: [1, 9], omit: []).version == Interest.version(of: [1, 9]), "no omit: the version an older collector sent")
        #expect(plain.json == "{\"version\":\(plain.version),\"events\":[1,9]}")
        #expect(omitting.json == "{\"version\":\(omitting.version),\"events\":[1,9],\"omit\":[\"open.nameraw\"]}")
        #expect(try CollectorAck.parse(Array("{\"interest\":\(omitting.json)}".utf8)).interest == omitting)
        #expect(Interest(events: [1], omit: ["b", "a"]).omit == ["a", "b"])
        #expect(Interest(events: [1], omit: ["b", "a"]).version == Interest(events: [1], omit: ["a", "b"]).version)
        #expect(omitting.description.hasSuffix("omitting open.nameraw"))
    }
}
