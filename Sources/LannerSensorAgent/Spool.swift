import FoundationEssentials
import Glibc
import LannerHTTP2
import LannerCore
import LannerWire

/// Finished batches the collector has not acknowledged yet: in memory up to `memoryBytes`, then in files under the
/// state directory up to `diskBytes` (`DiskSpool`), then dropped and counted (`droppedEvents`, reported as user
/// drops in later batch headers, so the collector raises a drop alert).
///
/// Batches leave in sequence order, oldest first, wherever they are kept: memory and disk form one queue.
/// "Priority" batches (a host-state snapshot after a reconnect) go before it. Writing to disk happens on the
/// spool's own thread, so a slow disk never stalls the capture thread: a batch waiting to be written is still
/// in memory and can be sent from there; the capture thread only ever appends in memory.
///
/// Batches found on disk at start (a previous run's, or this host's before a reboot) are sent first. At shutdown
/// `persistRemaining()` writes what is still in memory to disk, so a clean stop loses nothing the disk can hold.
public final class Spool: @unchecked Sendable {
    public enum PushOutcome: Equatable, Sendable { case memory, disk, dropped }

    final class Item {
        let sequence: UInt64
        let events: Int
        let size: Int
        /// The bytes, while in memory (or read back from disk to be sent).
        var body: [UInt8]?
        enum Place { case memory, spilling, writing, disk(DiskSpool.Entry) }
        var place: Place
        var acknowledged = false

        init(_ b: Batcher.Finished, place: Place) {
            sequence = b.sequence
            events = b.events
            size = b.body.count
            body = b.body
            self.place = place
        }

        init(entry: DiskSpool.Entry) {
            sequence = entry.sequence
            events = entry.events
            size = entry.bytes
            body = nil
            place = .disk(entry)
        }
    }

    public let memoryBytes: Int
    private let disk: DiskSpool?
    private let log: @Sendable (String) -> Void
    private let cond = PosixCondition()
    private var items: [Item] = []
    private var head = 0
    private var priority: [Batcher.Finished] = []
    private var memBytes = 0
    private var spillBytes = 0
    private var closed = false
    private var spillerRunning = false
    private var diskBrokenUntil: Date?
    private var _droppedEvents: UInt64 = 0
    private var _droppedBatches = 0
    private var _spilledBatches = 0
    /// What a previous run left on disk, found at start.
    public let recovered: (batches: Int, events: Int)
    private let recoveredHighestSequence: UInt64

    /// - Parameters:
    ///   - memoryBytes: batches kept in memory (`--spool-mb`).
    ///   - directory: where batches go when memory is full (`<state-dir>/spool`); nil keeps memory only.
    ///   - diskBytes: the most the directory may hold (`--spool-disk-mb`).
    /// - Throws: when the directory cannot be created or listed.
    public init(memoryBytes: Int, directory: String? = nil, diskBytes: Int = 0, log: @escaping @Sendable (String) -> Void = { _ in }) throws {
        self.memoryBytes = memoryBytes
        self.log = log
        if let directory, diskBytes > 0 {
            let (d, entries, notes) = try DiskSpool.open(directory: directory, maxBytes: diskBytes)
            disk = d
            items = entries.map(Item.init(entry:))
            recovered = (entries.count, entries.reduce(0) { $0 + $1.events })
            recoveredHighestSequence = entries.last?.sequence ?? 0
            for n in notes { log(n) }
        } else {
            disk = nil
            recovered = (0, 0)
            recoveredHighestSequence = 0
        }
    }

    /// Memory only (tests, offline use).
    public convenience init(maxBytes: Int) {
        try! self.init(memoryBytes: maxBytes)
    }

    public var droppedEvents: UInt64 { cond.lock(); defer { cond.unlock() }; return _droppedEvents }
    public var droppedBatches: Int { cond.lock(); defer { cond.unlock() }; return _droppedBatches }
    public var spilledBatches: Int { cond.lock(); defer { cond.unlock() }; return _spilledBatches }

    // MARK: Capture side

    /// Queues a batch: in memory when it fits, else for the disk, else dropped (counted).
    @discardableResult
    public func push(_ b: Batcher.Finished) -> PushOutcome {
        cond.lock()
        defer { cond.unlock() }
        if memBytes + b.body.count <= memoryBytes || (memBytes == 0 && spillBytes == 0 && pendingCount == 0) {
            items.append(Item(b, place: .memory))
            memBytes += b.body.count
            cond.broadcast()
            return .memory
        }
        if let disk, diskUsable, spillBytes + b.body.count <= spillQueueBytes,
           disk.fits(b.body.count + spillBytes) {
            items.append(Item(b, place: .spilling))
            spillBytes += b.body.count
            startSpillerIfNeeded()
            cond.broadcast()
            return .disk
        }
        _droppedEvents += UInt64(b.events)
        _droppedBatches += 1
        return .dropped
    }

    /// Queues batches to go before everything else (in the given order), replacing priority batches not sent yet
    /// (an older snapshot is superseded by a newer one).
    public func replacePriority(_ batches: [Batcher.Finished]) {
        cond.lock()
        priority = batches
        cond.broadcast()
        cond.unlock()
    }

    /// The highest run epoch (`sequence >> 32`) of the batches found on disk at start; 0 when none.
    public var highestSpooledEpoch: UInt64 { recoveredHighestSequence >> 32 }

    // MARK: Upload side

    /// The next batch to send, waiting up to `timeout`; nil on timeout or when closed and empty. The same batch
    /// comes back until it is acknowledged.
    public func peek(timeout: TimeInterval) -> Batcher.Finished? {
        let deadline = Date().addingTimeInterval(timeout)
        cond.lock()
        defer { cond.unlock() }
        while true {
            if let p = priority.first { return p }
            dropAcknowledgedHead()
            if head < items.count {
                let item = items[head]
                if let body = item.body { return Batcher.Finished(sequence: item.sequence, events: item.events, body: body) }
                guard case .disk(let entry) = item.place, let disk else { return nil }
                cond.unlock()
                let read = Result { () throws(DiskSpool.Failure) in try disk.read(entry) }
                cond.lock()
                switch read {
                case .success(let body):
                    if !item.acknowledged { item.body = body }
                case .failure(let why):
                    log("lanner-sensor: \(why); its \(item.events) events are lost (counted as sensor drops)")
                    _droppedEvents += UInt64(item.events)
                    _droppedBatches += 1
                    item.acknowledged = true
                    disk.remove(entry)
                }
                continue
            }
            if closed { return nil }
            if !cond.wait(until: deadline) { return nil }
        }
    }

    /// Removes a batch the collector acknowledged (or rejected for good).
    public func acknowledge(_ sequence: UInt64) {
        cond.lock()
        defer { cond.unlock() }
        if let i = priority.firstIndex(where: { $0.sequence == sequence }) {
            priority.remove(at: i)
            return
        }
        var i = head
        while i < items.count && items[i].sequence != sequence { i += 1 }
        guard i < items.count, !items[i].acknowledged else { return }
        let item = items[i]
        item.acknowledged = true
        switch item.place {
        case .memory: memBytes -= item.size
        case .spilling: spillBytes -= item.size
        case .writing: break   // the spill thread deletes the file it is writing
        case .disk(let e): disk?.remove(e)
        }
        item.body = nil
        dropAcknowledgedHead()
        cond.broadcast()
    }

    /// Batches and bytes not acknowledged yet (memory and disk; priority batches not counted).
    public var pending: (batches: Int, bytes: Int) {
        cond.lock()
        defer { cond.unlock() }
        var n = 0, bytes = 0
        for i in head..<items.count where !items[i].acknowledged {
            n += 1
            bytes += items[i].size
        }
        return (n, bytes)
    }

    /// Nothing waits to be sent.
    public var isEmpty: Bool {
        cond.lock()
        defer { cond.unlock() }
        return priority.isEmpty && pendingCount == 0
    }

    public var isClosed: Bool {
        cond.lock()
        defer { cond.unlock() }
        return closed
    }

    /// No more pushes; `peek` returns what is left, then nil.
    public func close() {
        cond.lock()
        closed = true
        cond.broadcast()
        cond.unlock()
    }

    /// After the uploader has stopped: writes every batch still only in memory to disk (as far as it fits) and
    /// waits for the spill thread. Priority batches (snapshots, rebuilt at the next start) are not kept.
    /// - Returns: batches kept on disk for the next run, and those lost (no disk, full, or failing).
    public func persistRemaining() -> (kept: Int, lost: Int, lostEvents: UInt64) {
        cond.lock()
        closed = true
        cond.broadcast()
        while spillerRunning { cond.wait() }
        var kept = 0, lost = 0
        var lostEvents: UInt64 = 0
        for i in head..<items.count where !items[i].acknowledged {
            let item = items[i]
            switch item.place {
            case .disk: kept += 1
            case .memory, .spilling, .writing:
                guard let disk, let body = item.body, disk.fits(item.size) else {
                    lost += 1
                    lostEvents += UInt64(item.events)
                    continue
                }
                do {
                    let e = try disk.write(Batcher.Finished(sequence: item.sequence, events: item.events, body: body))
                    disk.added(e)
                    item.place = .disk(e)
                    kept += 1
                } catch {
                    log("lanner-sensor: could not keep batch \(item.sequence) on disk: \(error)")
                    lost += 1
                    lostEvents += UInt64(item.events)
                }
            }
        }
        cond.unlock()
        return (kept, lost, lostEvents)
    }

    // MARK: Internals (cond held)

    private var pendingCount: Int {
        var n = 0
        for i in head..<items.count where !items[i].acknowledged { n += 1 }
        return n
    }

    private var spillQueueBytes: Int { max(memoryBytes / 4, 8 << 20) }

    private var diskUsable: Bool {
        guard let until = diskBrokenUntil else { return true }
        if Date() >= until { diskBrokenUntil = nil; return true }
        return false
    }

    private func dropAcknowledgedHead() {
        while head < items.count && items[head].acknowledged { head += 1 }
        if head > 1024 && head * 2 > items.count {
            items.removeFirst(head)
            head = 0
        }
    }

    private func startSpillerIfNeeded() {
        guard !spillerRunning, disk != nil else { return }
        spillerRunning = true
        do { pthread_detach(try LoopThread.spawn(name: "lanner-spool") { [self] in spillLoop() }) } catch {
            spillerRunning = false   // batches stay in memory (counted against its budget) and are spilled next time
            log("lanner-sensor: cannot start the spool's disk writer (\(error))")
        }
    }

    /// Writes `.spilling` batches to disk, oldest first, until none is left.
    private func spillLoop() {
        cond.lock()
        defer {
            spillerRunning = false
            cond.broadcast()
            cond.unlock()
        }
        while let disk {
            var next: Item?
            for i in head..<items.count {
                if case .spilling = items[i].place, !items[i].acknowledged { next = items[i]; break }
            }
            guard let item = next, let body = item.body else { return }
            item.place = .writing
            cond.unlock()
            let written = Result { () throws(DiskSpool.Failure) in
                try disk.write(Batcher.Finished(sequence: item.sequence, events: item.events, body: body))
            }
            cond.lock()
            spillBytes -= item.size
            switch written {
            case .success(let e):
                if item.acknowledged {
                    unlink(disk.path(e.sequence))   // sent from memory while it was being written
                } else {
                    disk.added(e)
                    item.place = .disk(e)
                    item.body = nil
                    _spilledBatches += 1
                }
            case .failure(let why):
                // Keep it in memory (over the limit rather than lost) and stop spilling for a while.
                log("lanner-sensor: spilling to disk failed: \(why); keeping the batch in memory, disk spool paused for 10 s")
                diskBrokenUntil = Date().addingTimeInterval(10)
                if !item.acknowledged {
                    item.place = .memory
                    memBytes += item.size
                }
            }
        }
    }
}
