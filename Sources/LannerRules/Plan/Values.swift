/// Field values during evaluation, and the per-thread scratch space that holds them.
///
/// Strings are `UnsafeRawBufferPointer`s into memory that outlives the evaluation of one event: the event's
/// batch, the host-state tables, the ruleset's constants, or the scratch arena. Nothing is allocated per
/// event once the scratch has grown to its working size.

/// One extracted value.
public enum FieldValue {
    case int(Int64)
    case uint(UInt64)
    case bool(Bool)
    case bytes(UnsafeRawBufferPointer)
    case ip(IPAddress)
    /// Only as a constant: a network an address is tested against.
    case net(IPNetwork)

    /// The bytes of a string value; nil for other kinds.
    @inlinable public var bytes: UnsafeRawBufferPointer? {
        if case .bytes(let b) = self { return b }
        return nil
    }
}

/// Growable memory for strings built during one event (transformer results, rendered socket names).
/// Chunks never move, so pointers handed out stay valid until `reset()`.
public final class ByteArena {
    private var chunks: [UnsafeMutableRawBufferPointer] = []
    private var current = 0
    private var used = 0
    private let chunkSize: Int

    public init(chunkSize: Int = 64 << 10) {
        self.chunkSize = chunkSize
        chunks.append(UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16))
    }

    deinit { for c in chunks { c.deallocate() } }

    /// Forgets everything allocated (memory is kept for reuse).
    @inlinable public func reset() { resetStorage() }

    @usableFromInline func resetStorage() {
        current = 0
        used = 0
    }

    /// Space for `count` bytes, valid until the next `reset()`.
    public func allocate(_ count: Int) -> UnsafeMutableRawBufferPointer {
        if used + count > chunks[current].count {
            current += 1
            used = 0
            if current == chunks.count || chunks[current].count < count {
                let c = UnsafeMutableRawBufferPointer.allocate(byteCount: max(chunkSize, count), alignment: 16)
                if current == chunks.count { chunks.append(c) } else { chunks[current].deallocate(); chunks[current] = c }
            }
        }
        let p = UnsafeMutableRawBufferPointer(rebasing: chunks[current][used..<(used + count)])
        used += count
        return p
    }

    /// Copies `bytes` into the arena (one memcpy when they are contiguous).
    public func copy<C: Collection>(_ bytes: C) -> UnsafeRawBufferPointer where C.Element == UInt8 {
        let n = bytes.count
        let p = allocate(n)
        let done: Bool? = bytes.withContiguousStorageIfAvailable { src in
            if n > 0 { p.baseAddress!.copyMemory(from: src.baseAddress!, byteCount: n) }
            return true
        }
        if done == nil {
            var i = 0
            for b in bytes { p[i] = b; i += 1 }
        }
        return UnsafeRawBufferPointer(p)
    }
}

/// Per-thread evaluation state: the extracted-value cache (each field extracted at most once per event)
/// and the arena. Not thread-safe; use one per evaluating thread. Storage is unsafe memory that only grows.
public final class EvalScratch {
    /// Values extracted for the current event, back to back.
    @usableFromInline var values: UnsafeMutablePointer<FieldValue>
    @usableFromInline var count = 0
    @usableFromInline var capacity = 256
    /// Per field slot: the generation it was filled in, and its range in `values`.
    @usableFromInline var slotGeneration: UnsafeMutablePointer<UInt32>
    @usableFromInline var slotStart: UnsafeMutablePointer<Int32>
    @usableFromInline var slotCount: UnsafeMutablePointer<Int32>
    @usableFromInline var slotCapacity = 0
    /// Per check: the generation its result was computed in, and the result (identical checks across rules
    /// are evaluated once per event).
    @usableFromInline var checkGeneration: UnsafeMutablePointer<UInt32>
    @usableFromInline var checkResult: UnsafeMutablePointer<Bool>
    @usableFromInline var checkCapacity = 0
    @usableFromInline var generation: UInt32 = 1
    /// Set by transformer extractors: where their values start (after the inner field's).
    @usableFromInline var pendingStart = -1
    public let arena = ByteArena()
    /// A NUL-terminated copy buffer for C matchers (regexec).
    var cString: [CChar] = []

    public init() {
        values = .allocate(capacity: capacity)
        slotGeneration = .allocate(capacity: 1)
        slotStart = .allocate(capacity: 1)
        slotCount = .allocate(capacity: 1)
        checkGeneration = .allocate(capacity: 1)
        checkResult = .allocate(capacity: 1)
    }

    deinit {
        values.deallocate()
        slotGeneration.deallocate()
        slotStart.deallocate()
        slotCount.deallocate()
        checkGeneration.deallocate()
        checkResult.deallocate()
    }

    func ensureChecks(_ n: Int) {
        guard checkCapacity < n else { return }
        let cap = max(n, checkCapacity * 2, 64)
        let g = UnsafeMutablePointer<UInt32>.allocate(capacity: cap)
        let r = UnsafeMutablePointer<Bool>.allocate(capacity: cap)
        g.initialize(repeating: 0, count: cap)
        r.initialize(repeating: false, count: cap)
        checkGeneration.deallocate()
        checkResult.deallocate()
        checkGeneration = g
        checkResult = r
        checkCapacity = cap
    }

    func ensureSlots(_ n: Int) {
        guard slotCapacity < n else { return }
        let cap = max(n, slotCapacity * 2, 64)
        let g = UnsafeMutablePointer<UInt32>.allocate(capacity: cap)
        let s = UnsafeMutablePointer<Int32>.allocate(capacity: cap)
        let c = UnsafeMutablePointer<Int32>.allocate(capacity: cap)
        g.initialize(repeating: 0, count: cap)
        s.initialize(repeating: 0, count: cap)
        c.initialize(repeating: 0, count: cap)
        g.update(from: slotGeneration, count: slotCapacity)
        s.update(from: slotStart, count: slotCapacity)
        c.update(from: slotCount, count: slotCapacity)
        slotGeneration.deallocate(); slotStart.deallocate(); slotCount.deallocate()
        slotGeneration = g; slotStart = s; slotCount = c
        slotCapacity = cap
    }

    /// Starts a new event: forgets every cached value.
    @inlinable public func beginEvent() {
        generation &+= 1
        if generation == 0 {
            slotGeneration.update(repeating: 0, count: slotCapacity)
            checkGeneration.update(repeating: 0, count: checkCapacity)
            generation = 1
        }
        count = 0
        arena.reset()
    }

    @usableFromInline func grow() {
        let n = UnsafeMutablePointer<FieldValue>.allocate(capacity: capacity * 2)
        n.moveInitialize(from: values, count: count)
        values.deallocate()
        values = n
        capacity *= 2
    }

    /// The values extracted so far in this event, in order (for tools and tests).
    public var extractedValues: UnsafeBufferPointer<FieldValue> { UnsafeBufferPointer(start: values, count: count) }

    /// Appends one value for the field being extracted (called by extractors).
    @inlinable public func append(_ v: FieldValue) {
        if count == capacity { grow() }
        (values + count).initialize(to: v)
        count += 1
    }

    /// Appends a string value that lives at least until the end of this event.
    @inlinable public func append(bytes: UnsafeRawBufferPointer) { append(.bytes(bytes)) }

    /// Copies `bytes` into the arena and appends them.
    public func appendCopy<C: Collection>(_ bytes: C) where C.Element == UInt8 { append(.bytes(arena.copy(bytes))) }
}
