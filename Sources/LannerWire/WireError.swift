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
    case recordTooShort(type: UInt16, offset: Int, length: Int, minimum: Int)
    case fieldOverrun(field: String, offset: Int, length: Int, recordEnd: Int)
    case trailingBytes(type: UInt16, offset: Int, count: Int)
    case wrongEventType(expected: String, got: UInt16, offset: Int)
    case recordTooLong(type: UInt16, length: Int)
    case stringTooLong(field: String, length: Int, limit: Int)
    case headerStringTooLong(field: String, offset: Int, length: Int, limit: Int)
    case unsupportedFlags(flags: UInt32, known: UInt32)
    case invalidUTF8(field: String, offset: Int)
    /// A compressed batch's header (byte 52) declares more decompressed record bytes than the limit allows.
    case decompressedTooLarge(declared: Int, limit: Int)
    /// The zstd frame holding a compressed batch's records (starting at `offset`) is not what the header says.
    case compressedRecords(offset: Int, problem: Zstd.FrameProblem, declared: Int)

    public var description: String {
        switch self {
        case .truncated(let what, let offset, let needed, let available):
            return "truncated \(what) at byte \(offset): needs \(needed) bytes, \(available) available"
        case .badMagic(let found):
            return "not a Lanner batch: the magic at byte 0 is \(found.map { String($0, radix: 16) }) instead of \"LNRB\""
        case .unsupportedVersion(let major, let minor, let supported):
            return "batch format \(major).\(minor) (version at byte 4) is not supported (this collector speaks major version \(supported))"
        case .headerLength(let declared, let minimum, let available):
            return "batch header length \(declared) at byte 8 is invalid (minimum \(minimum), body has \(available) bytes)"
        case .batchTooLarge(let size, let limit):
            return "batch of \(size) bytes exceeds the limit of \(limit) bytes (nothing past byte \(limit) is read)"
        case .recordsLength(let declared, let actual):
            return "batch header declares \(declared) bytes of records (at byte 52) but the body carries \(actual)"
        case .eventCount(let declared, let actual):
            return "batch header declares \(declared) events (at byte 48) but the body carries \(actual)"
        case .recordLength(let offset, let length, let remaining):
            return "record at byte \(offset) has length \(length) but \(remaining) bytes remain (minimum record is \(WireSchema.headerSize))"
        case .recordTooShort(let type, let offset, let length, let minimum):
            return "record of type \(type) at byte \(offset) is \(length) bytes, shorter than its fixed part of \(minimum)"
        case .fieldOverrun(let field, let offset, let length, let recordEnd):
            return "field '\(field)' at byte \(offset) claims \(length) bytes, past the record end at \(recordEnd)"
        case .trailingBytes(let type, let offset, let count):
            return "record of type \(type) at byte \(offset) has \(count) bytes after its last field"
        case .wrongEventType(let expected, let got, let offset):
            return "expected a \(expected) record at byte \(offset), got type \(got)"
        case .recordTooLong(let type, let length):
            return "record of type \(type) would be \(length) bytes, over the 65535-byte limit"
        case .stringTooLong(let field, let length, let limit):
            return "\(field) is \(length) bytes, over the limit of \(limit)"
        case .headerStringTooLong(let field, let offset, let length, let limit):
            return "\(field) at byte \(offset) is \(length) bytes, over the limit of \(limit)"
        case .unsupportedFlags(let flags, let known):
            return "batch flags 0x\(String(flags, radix: 16)) at byte 12 are not supported (this collector knows 0x\(String(known, radix: 16)): bit 0, zstd-compressed records)"
        case .invalidUTF8(let field, let offset):
            return "\(field) at byte \(offset) is not valid UTF-8"
        case .decompressedTooLarge(let declared, let limit):
            return "compressed batch declares \(declared) bytes of records after decompression (at byte 52), over the limit of \(limit)"
        case .compressedRecords(let offset, let problem, let declared):
            let why: String
            switch problem {
            case .notAFrame: why = "not a zstd frame (a frame starts with 28 b5 2f fd)"
            case .unknownContentSize: why = "the zstd frame header does not record its content size"
            case .contentSize(let d): why = "the zstd frame holds \(d) bytes but the batch header (byte 52) declares \(declared)"
            case .trailing(let frame, let extra): why = "\(extra) bytes follow the zstd frame, which ends at byte \(offset + frame)"
            case .damaged(let reason): why = "damaged zstd frame (\(reason))"
            }
            return "compressed records at byte \(offset): " + why
        }
    }
}
