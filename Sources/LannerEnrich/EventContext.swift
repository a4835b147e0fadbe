import LannerRules
import LannerWire

/// The event being evaluated, with the host state it happened in. One per evaluating thread, re-pointed
/// at each record (no allocation per event).
public final class EventContext {
    public private(set) var record: RecordView
    public private(set) var host: HostState
    /// The acting process (the record's thread group).
    public private(set) var process: ProcessEntry
    /// Events seen on this host so far (evt.num), starting at 1.
    public private(set) var eventNumber: UInt64 = 0
    /// Event time, ns since the Unix epoch.
    public private(set) var timeNs: UInt64 = 0

    public init(host: HostState) {
        self.host = host
        record = EventContext.placeholderRecord
        process = ProcessEntry(pid: 0, ppid: 0)
    }

    /// A zeroed procexit record, so `record` is never optional on the hot path.
    nonisolated(unsafe) static let placeholderRecord: RecordView = {
        let size = EventType.procexit.fixedSize
        let p = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        p.initializeMemory(as: UInt8.self, repeating: 0, count: size)
        p.storeBytes(of: UInt16(size).littleEndian, as: UInt16.self)
        p.storeBytes(of: EventType.procexit.rawValue.littleEndian, toByteOffset: 2, as: UInt16.self)
        return RecordView(base: UnsafeRawPointer(p), length: size)!
    }()

    /// Points the context at a record. `record.base` must stay valid until the next call.
    public func set(_ r: RecordView, host: HostState, eventNumber: UInt64, timeNs: UInt64) {
        record = r
        self.host = host
        self.eventNumber = eventNumber
        self.timeNs = timeNs
        process = host.process(for: r.pid)
    }

    // MARK: - Decoded record fields used by several extractors

    @inline(__always) var res: Int64 {
        switch record.type {
        case .execve, .execveat: return record.load(Int64.self, at: Layout.Exec.res)
        case .clone, .clone3, .fork, .vfork: return record.load(Int64.self, at: Layout.Clone.res)
        case .open, .openat, .openat2, .creat: return record.load(Int64.self, at: Layout.Open.res)
        case .connect: return record.load(Int64.self, at: Layout.Connect.res)
        case .procexit: return 0
        default: return record.type.fromKernel ? record.load(Int64.self, at: 20) : 0   // every syscall record starts with res
        }
    }

    var isOpen: Bool {
        switch record.type {
        case .open, .openat, .openat2, .creat: return true
        default: return false
        }
    }

    var openFlags: UInt32 { record.load(UInt32.self, at: Layout.Open.flags) }
}
