/// Everything that can be wrong with bytes claimed to be a Lanner batch or record. Each case says where
/// (a byte offset in the batch body) and why, so a 400 response or a log line can quote it.
public enum WireError: Error, Sendable, Equatable, CustomStringConvertible {
    case truncated(what: String, offset: Int, needed: Int, available: Int)
    case badMagic(found: [UInt8])
    case unsupportedVersion(major: UInt16, minor: UInt16, supportedMajor: UInt16)
    case headerLength(declared: Int, minimum: Int, available: Int)
    case batchTooLarge(size: Int, limit: Int)
    case recordsLength(declared: Int, actual: Int)
    case eventCount(declared: Int, actual: Int)
    case recordLength(offset: Int, length: Int, remaining: Int)
    case recordTooShort(type: UInt16, length: Int, minimum: Int)
    case fieldOverrun(field: String, offset: Int, length: Int, recordEnd: Int)
    case trailingBytes(type: UInt16, offset: Int, count: Int)
    case wrongEventType(expected: String, got: UInt16)
    case recordTooLong(type: UInt16, length: Int)
    case stringTooLong(field: String, length: Int, limit: Int)

    public var description: String {
        switch self {
        case .truncated(let what, let offset, let needed, let available):
            return "truncated \(what) at byte \(offset): needs \(needed) bytes, \(available) available"
        case .badMagic(let found):
            return "not a Lanner batch: magic is \(found.map { String($0, radix: 16) }) instead of \"LNRB\""
        case .unsupportedVersion(let major, let minor, let supported):
            return "batch format \(major).\(minor) is not supported (this collector speaks major version \(supported))"
        case .headerLength(let declared, let minimum, let available):
            return "batch header length \(declared) is invalid (minimum \(minimum), body has \(available) bytes)"
        case .batchTooLarge(let size, let limit):
            return "batch of \(size) bytes exceeds the limit of \(limit) bytes"
        case .recordsLength(let declared, let actual):
            return "batch header declares \(declared) bytes of records but the body carries \(actual)"
        case .eventCount(let declared, let actual):
            return "batch header declares \(declared) events but the body carries \(actual)"
        case .recordLength(let offset, let length, let remaining):
            return "record at byte \(offset) has length \(length) but \(remaining) bytes remain (minimum record is \(WireSchema.headerSize))"
        case .recordTooShort(let type, let length, let minimum):
            return "record of type \(type) is \(length) bytes, shorter than its fixed part of \(minimum)"
        case .fieldOverrun(let field, let offset, let length, let recordEnd):
            return "field '\(field)' at byte \(offset) claims \(length) bytes, past the record end at \(recordEnd)"
        case .trailingBytes(let type, let offset, let count):
            return "record of type \(type) at byte \(offset) has \(count) bytes after its last field"
        case .wrongEventType(let expected, let got):
            return "expected a \(expected) record, got type \(got)"
        case .recordTooLong(let type, let length):
            return "record of type \(type) would be \(length) bytes, over the 65535-byte limit"
        case .stringTooLong(let field, let length, let limit):
            return "\(field) is \(length) bytes, over the limit of \(limit)"
        }
    }
}
