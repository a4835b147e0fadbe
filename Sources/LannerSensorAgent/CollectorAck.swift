import Foundation
import LannerWire

/// The body of a collector's 200 answer to `POST /v1/batches` (proto/README.md, "Responses"):
/// `{"sequence":N,"status":"committed"|"duplicate","events":E,"alerts":A,"interest":{"version":V,"events":[…]}}`.
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
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: Data(body)) } catch {
            throw Failure(description: "acknowledgement is not JSON (\(body.count) bytes: \(Self.preview(body))): "
                          + ((error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? "\(error)"))
        }
        guard let o = object as? [String: Any] else { throw Failure(description: "acknowledgement is not a JSON object: \(Self.preview(body))") }
        var ack = CollectorAck()
        if let n = o["sequence"] as? NSNumber { ack.sequence = n.uint64Value }
        ack.status = o["status"] as? String
        guard let raw = o["interest"] else { return ack }
        guard let i = raw as? [String: Any] else { throw Failure(description: "\"interest\" is not an object") }
        guard let v = i["version"] as? NSNumber, let version = UInt32(exactly: v.doubleValue) else {
            throw Failure(description: "\"interest.version\" is missing or not a 32-bit unsigned integer")
        }
        guard let list = i["events"] as? [Any] else { throw Failure(description: "\"interest.events\" is missing or not an array") }
        var ids: [UInt16] = []
        for (k, e) in list.enumerated() {
            guard let n = e as? NSNumber, let id = UInt16(exactly: n.doubleValue), id > 0 else {
                throw Failure(description: "\"interest.events\"[\(k)] is \(e), not an event id (1…65535)")
            }
            ids.append(id)
        }
        let interest = Interest(events: ids)
        guard interest.version == version else {
            throw Failure(description: "\"interest.version\" is \(version) but the events listed have version \(interest.version)")
        }
        ack.interest = interest
        return ack
    }

    static func preview(_ b: [UInt8]) -> String {
        let s = String(decoding: b.prefix(80), as: UTF8.self)
        return "\"" + s + (b.count > 80 ? "…" : "") + "\""
    }
}
