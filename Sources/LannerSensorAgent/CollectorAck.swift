import FoundationEssentials
import Glibc
import LannerWire

/// The body of a collector's 200 answer to `POST /v1/batches` (proto/README.md, "Interest"):
/// `{"sequence":N,"status":"committed"|"duplicate","events":E,"alerts":A,"interest":{"version":V,"events":[…],"omit":[…]}}`.
public struct CollectorAck: Sendable, Equatable {
    public var sequence: UInt64?
    public var status: String?
    /// nil when the collector sent none (one older than the interest push).
    public var interest: Interest?

    public struct Failure: Error, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Parses an acknowledgement. A 200 means the batch is stored whatever the body says; a body that cannot be
    /// read only costs the interest it would carry, and the error says where it went wrong.
    public static func parse(_ body: [UInt8]) throws(Failure) -> CollectorAck {
        let object: JSONValue
        do { object = try JSONValue.parse(body) } catch {
            throw Failure(description: "acknowledgement is not JSON (\(body.count) bytes: \(Self.preview(body))): \(error)")
        }
        guard let o = object.object else { throw Failure(description: "acknowledgement is not a JSON object: \(Self.preview(body))") }
        var ack = CollectorAck()
        ack.sequence = o["sequence"]?.exactly(UInt64.self)
        ack.status = o["status"]?.string
        guard let raw = o["interest"] else { return ack }
        ack.interest = try interest(raw)
        return ack
    }

    /// The value of an `"interest"` key (an acknowledgement's, or the sensor's kept copy: `InterestFile`), checked
    /// as a collector sends it: ids 1…65535, omit names, and a version that matches them.
    static func interest(_ raw: JSONValue) throws(Failure) -> Interest {
        guard let i = raw.object else { throw Failure(description: "\"interest\" is not an object") }
        guard let version = i["version"]?.exactly(UInt32.self) else {
            throw Failure(description: "\"interest.version\" is missing or not a 32-bit unsigned integer")
        }
        guard let list = i["events"]?.array else { throw Failure(description: "\"interest.events\" is missing or not an array") }
        var ids: [UInt16] = []
        for (k, e) in list.enumerated() {
            guard let id = e.exactly(UInt16.self), id > 0 else {
                throw Failure(description: "\"interest.events\"[\(k)] is \(e.text), not an event id (1…65535)")
            }
            ids.append(id)
        }
        var omit: [String] = []
        if let rawOmit = i["omit"] {
            guard let names = rawOmit.array else { throw Failure(description: "\"interest.omit\" is not an array") }
            for (k, n) in names.enumerated() {
                guard let name = n.string, Self.isOmitName(name) else {
                    throw Failure(description: "\"interest.omit\"[\(k)] is \(n.text), not a part name (1–64 of a-z 0-9 . _ -)")
                }
                omit.append(name)
            }
        }
        let interest = Interest(events: ids, omit: omit)
        guard interest.version == version else {
            throw Failure(description: "\"interest.version\" is \(version) but the events and omitted parts listed have version \(interest.version)")
        }
        return interest
    }

    /// Omit names are short identifiers (`open.nameraw`); anything else is refused rather than logged raw.
    static func isOmitName(_ s: String) -> Bool {
        let u = s.utf8
        return (1...64).contains(u.count) && u.allSatisfy { (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) || $0 == 0x2e || $0 == 0x5f || $0 == 0x2d }
    }

    static func preview(_ b: [UInt8]) -> String {
        let s = String(decoding: b.prefix(80), as: UTF8.self)
        return "\"" + s + (b.count > 80 ? "…" : "") + "\""
    }
}
