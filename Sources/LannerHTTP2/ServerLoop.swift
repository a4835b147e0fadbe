import CNGHTTP2
#if canImport(Glibc)
import Glibc
#endif

/// One accepted connection, owned by the loop.
final class ServerConnection {
    enum Phase {
        /// Reading the first bytes to tell HTTP/2 from HTTP/1.x and garbage.
        case sniffing([UInt8])
        /// Speaking HTTP/2.
        case http2(ServerSession)
        /// Writing a last message (the HTTP/1.x error text), then lingering.
        case finalWrite
        /// Output done and FIN sent; discarding input until the peer closes (so it reads our last bytes instead
        /// of getting a reset), at most until `until`.
        case lingering(until: UInt64, discarded: Int)
        case closed
    }

    let id: UInt64
    let transport: ByteTransport
    let peer: String
    var phase: Phase = .sniffing([])
    var out = OutputBuffer()
    var lastActivity: UInt64
    /// epoll events currently registered.
    var registered: UInt32 = 0
    /// Queued for a flush at the end of this loop iteration.
    var isDirty = false

    init(id: UInt64, transport: ByteTransport, peer: String, now: UInt64) {
        self.id = id
        self.transport = transport
        self.peer = peer
        self.lastActivity = now
    }

    var session: ServerSession? {
        if case .http2(let s) = phase { return s }
        return nil
    }
}

/// The event loop: one thread, epoll over the listener, the wake-up eventfd and every connection.
///
/// Each iteration waits for readiness, reads and feeds input (handing complete requests to the application),
/// takes the responses application threads queued, writes everything it can, and every half second checks
/// idle connections.
final class ServerLoop {
    typealias Handler = @Sendable (H2Request, @escaping H2Responder) -> Void

    private let epollFD: Int32
    private let listenFD: Int32
    private let limits: H2Limits
    private let handler: Handler
    private let shared: LoopShared
    private let log: H2Log?
    private var counters: ServerCounterCells { shared.counters }

    private var connections: [UInt64: ServerConnection] = [:]
    private var nextID: UInt64 = 2
    private var dirty: [ServerConnection] = []
    private let readBuffer: UnsafeMutableRawBufferPointer
    private var listenerPausedUntil: UInt64?
    private var didRun = false

    private static let listenerID: UInt64 = 0
    private static let wakeID: UInt64 = 1
    /// Output a connection may queue before the loop stops pulling frames from nghttp2 and stops reading.
    private static let outputHighWater = 1 << 20
    private static let readBufferSize = 256 << 10
    private static let tickNs: UInt64 = 500_000_000
    private static let lingerNs: UInt64 = 2_000_000_000
    private static let lingerMaxBytes = 256 << 10

    /// Registers the listener and the eventfd with a new epoll instance. Throws on failure; nothing leaks.
    init(listenFD: Int32, limits: H2Limits, shared: LoopShared, log: H2Log?, handler: @escaping Handler) throws(H2Error) {
        let ep = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard ep >= 0 else { throw .system(call: "epoll_create1", errno: errno, context: "starting the server loop") }
        for (fd, id) in [(listenFD, Self.listenerID), (shared.wakeFD, Self.wakeID)] {
            var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: id))
            if epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0 {
                let e = errno
                _ = Glibc.close(ep)
                throw .system(call: "epoll_ctl", errno: e, context: "starting the server loop")
            }
        }
        epollFD = ep
        self.listenFD = listenFD
        self.limits = limits
        self.shared = shared
        self.log = log
        self.handler = handler
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
    }

    deinit {
        readBuffer.deallocate()
        // Never run (the thread could not start): the epoll descriptor is ours; the listener stays the server's.
        if !didRun { _ = Glibc.close(epollFD) }
    }

    /// Runs until `shared.requestStop()`, then closes every connection, the listener and the epoll descriptor.
    func run() {
        didRun = true
        let capacity = 256
        let events = UnsafeMutablePointer<epoll_event>.allocate(capacity: capacity)
        defer { events.deallocate() }
        var nextTick = Deadline.now() + Self.tickNs
        while true {
            let mayBlock = shared.prepareToSleep()
            let now0 = Deadline.now()
            let timeout: Int32 = mayBlock ? Int32((nextTick > now0 ? nextTick - now0 : 0) / 1_000_000) + 1 : 0
            let n = epoll_wait(epollFD, events, Int32(capacity), timeout)
            shared.wokeUp()
            if n < 0 && errno != EINTR {
                log?("h2 server: epoll_wait failed: \(String(cString: strerror(errno)))")
            }
            for i in 0..<max(0, Int(n)) {
                let ev = events[i]
                switch ev.data.u64 {
                case Self.listenerID: acceptAll()
                case Self.wakeID: shared.drainWakeFD()
                case let id: if let c = connections[id] { handle(c, events: ev.events) }
                }
            }
            let (responses, stop) = shared.take()
            for r in responses { deliver(r) }
            flushDirty()
            if stop { break }
            let now = Deadline.now()
            if now >= nextTick {
                tick(now: now)
                nextTick = now + Self.tickNs
            }
        }
        shutdown()
    }

    // MARK: Accepting

    private func acceptAll() {
        while true {
            switch Socket.accept(listenFD) {
            case .accepted(let fd, let peer):
                counters.connectionsAccepted.wrappingAdd(1, ordering: .relaxed)
                if connections.count >= limits.maxConnections {
                    counters.connectionsRejected.wrappingAdd(1, ordering: .relaxed)
                    _ = Glibc.close(fd)
                    continue
                }
                let c = ServerConnection(id: nextID, transport: TCPTransport(fd: fd), peer: peer, now: Deadline.now())
                nextID += 1
                var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: c.id))
                if epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &ev) != 0 {
                    log?("h2 server: epoll_ctl for \(peer) failed: \(String(cString: strerror(errno)))")
                    c.transport.close()
                    continue
                }
                c.registered = EPOLLIN.rawValue
                connections[c.id] = c
                counters.connectionsOpen.wrappingAdd(1, ordering: .relaxed)
            case .wouldBlock:
                return
            case .failed(let e):
                log?("h2 server: accept failed: \(String(cString: strerror(e)))")
                if e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM {
                    // Out of descriptors or memory: stop accepting for a moment instead of spinning.
                    var ev = epoll_event(events: 0, data: epoll_data_t(u64: Self.listenerID))
                    _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, listenFD, &ev)
                    listenerPausedUntil = Deadline.now() + 100_000_000
                }
                return
            }
        }
    }

    // MARK: Input

    private func handle(_ c: ServerConnection, events: UInt32) {
        if events & EPOLLERR.rawValue != 0 {
            close(c)
            return
        }
        if events & (EPOLLIN.rawValue | EPOLLHUP.rawValue) != 0 { readAvailable(c) }
        if events & EPOLLOUT.rawValue != 0 { markDirty(c) }
    }

    private func readAvailable(_ c: ServerConnection) {
        for _ in 0..<4 {
            switch c.transport.read(into: readBuffer) {
            case .bytes(let n):
                counters.bytesIn.wrappingAdd(n, ordering: .relaxed)
                c.lastActivity = Deadline.now()
                ingest(c, UnsafeRawBufferPointer(rebasing: readBuffer[..<n]))
                if case .closed = c.phase { return }
                markDirty(c)
                if n < readBuffer.count || !wantsInput(c) { return }
            case .wouldBlock:
                return
            case .eof:
                // An HTTP/2 client that closes has abandoned its streams; nothing more can be delivered.
                close(c)
                return
            case .failed:
                close(c)
                return
            }
        }
    }

    private func ingest(_ c: ServerConnection, _ bytes: UnsafeRawBufferPointer) {
        switch c.phase {
        case .sniffing(var seen):
            seen.append(contentsOf: bytes)
            switch PrefaceSniffer.classify(seen) {
            case .needMore:
                c.phase = .sniffing(seen)
            case .http2:
                let session: ServerSession
                do {
                    session = try ServerSession(limits: limits, peer: c.peer, counters: counters)
                } catch {
                    log?("h2 server: \(c.peer): \(error)")
                    close(c)
                    return
                }
                c.phase = .http2(session)
                seen.withUnsafeBytes { feed(c, session, $0) }
            case .http1:
                counters.http1Rejected.wrappingAdd(1, ordering: .relaxed)
                c.out.append(contentsOf: Self.http1Reply)
                c.phase = .finalWrite
            case .tls:
                counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
                log?("h2 server: \(c.peer) sent a TLS handshake; this port speaks cleartext HTTP/2 (h2c)")
                close(c)
            case .garbage:
                counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
                log?("h2 server: \(c.peer) did not send the HTTP/2 preface; closing")
                close(c)
            }
        case .http2(let session):
            feed(c, session, bytes)
        case .lingering(let until, let discarded):
            if discarded + bytes.count > Self.lingerMaxBytes { close(c) } else {
                c.phase = .lingering(until: until, discarded: discarded + bytes.count)
            }
        case .finalWrite, .closed:
            break
        }
    }

    private func feed(_ c: ServerConnection, _ session: ServerSession, _ bytes: UnsafeRawBufferPointer) {
        switch session.receive(bytes) {
        case .requests(let requests):
            for (streamID, request) in requests {
                counters.requestsDispatched.wrappingAdd(1, ordering: .relaxed)
                let box = ResponderBox(shared: shared, connection: c.id, stream: streamID)
                handler(request, { box.respond($0) })
            }
        case .failed(let reason):
            if !session.hasReportedProtocolError { counters.protocolErrors.wrappingAdd(1, ordering: .relaxed) }
            log?("h2 server: \(c.peer): HTTP/2 session failed: \(reason)")
            close(c)
        }
    }

    private func wantsInput(_ c: ServerConnection) -> Bool {
        switch c.phase {
        case .sniffing, .lingering: return true
        case .http2(let s): return s.wantsRead && c.out.count < Self.outputHighWater
        case .finalWrite, .closed: return false
        }
    }

    // MARK: Responses

    private func deliver(_ r: PendingResponse) {
        guard let c = connections[r.connection], let session = c.session,
              session.respond(streamID: r.stream, response: r.response) else {
            counters.lateResponses.wrappingAdd(1, ordering: .relaxed)
            return
        }
        c.lastActivity = Deadline.now()
        markDirty(c)
    }

    // MARK: Output

    private func markDirty(_ c: ServerConnection) {
        if !c.isDirty {
            c.isDirty = true
            dirty.append(c)
        }
    }

    private func flushDirty() {
        // Flushing can add nothing to `dirty` (it only closes or re-registers), so one pass suffices.
        let batch = dirty
        dirty.removeAll(keepingCapacity: true)
        for c in batch {
            c.isDirty = false
            flush(c)
        }
    }

    /// Writes what the connection has, pulling frames from nghttp2 as the socket takes them; then moves
    /// finished connections towards closing and updates the epoll registration.
    private func flush(_ c: ServerConnection) {
        if case .closed = c.phase { return }
        writing: while true {
            if let session = c.session, c.out.count < Self.outputHighWater {
                if !session.produce(into: &c.out, limit: Self.outputHighWater) {
                    counters.protocolErrors.wrappingAdd(1, ordering: .relaxed)
                    log?("h2 server: \(c.peer): nghttp2 failed while sending")
                    close(c)
                    return
                }
            }
            if c.out.isEmpty { break }
            switch c.out.withUnsafeReadableBytes({ c.transport.write($0) }) {
            case .bytes(let n):
                c.out.consume(n)
                counters.bytesOut.wrappingAdd(n, ordering: .relaxed)
                c.lastActivity = Deadline.now()
            case .wouldBlock, .eof:
                break writing
            case .failed:
                close(c)
                return
            }
        }
        if c.out.isEmpty {
            switch c.phase {
            case .http2(let session) where session.isFinished: beginLinger(c)
            case .finalWrite: beginLinger(c)
            default: break
            }
        }
        updateRegistration(c)
    }

    private func beginLinger(_ c: ServerConnection) {
        c.transport.shutdownWrite()
        c.phase = .lingering(until: Deadline.now() + Self.lingerNs, discarded: 0)
    }

    private func updateRegistration(_ c: ServerConnection) {
        if case .closed = c.phase { return }
        var wanted: UInt32 = 0
        if wantsInput(c) { wanted |= EPOLLIN.rawValue }
        if !c.out.isEmpty { wanted |= EPOLLOUT.rawValue }
        if wanted != c.registered {
            var ev = epoll_event(events: wanted, data: epoll_data_t(u64: c.id))
            _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, c.transport.fd, &ev)
            c.registered = wanted
        }
    }

    // MARK: Timers

    private func tick(now: UInt64) {
        if let until = listenerPausedUntil, now >= until {
            var ev = epoll_event(events: EPOLLIN.rawValue, data: epoll_data_t(u64: Self.listenerID))
            _ = epoll_ctl(epollFD, EPOLL_CTL_MOD, listenFD, &ev)
            listenerPausedUntil = nil
        }
        let idleNs = limits.idleTimeout.nanosecondsClamped
        for c in Array(connections.values) {
            switch c.phase {
            case .lingering(let until, _):
                if now >= until { close(c) }
            case .sniffing, .finalWrite:
                if now &- c.lastActivity >= idleNs {
                    counters.idleTimeouts.wrappingAdd(1, ordering: .relaxed)
                    close(c)
                }
            case .http2(let session):
                if now &- c.lastActivity >= idleNs && session.withApplication == 0 {
                    counters.idleTimeouts.wrappingAdd(1, ordering: .relaxed)
                    session.terminate()
                    c.lastActivity = now
                    // A peer that does not read gets one more idle period for the GOAWAY, then is dropped.
                    if c.out.count >= Self.outputHighWater { close(c) } else { markDirty(c) }
                }
            case .closed:
                break
            }
        }
        flushDirty()
    }

    // MARK: Closing

    private func close(_ c: ServerConnection) {
        if case .closed = c.phase { return }
        c.phase = .closed
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, c.transport.fd, nil)
        c.transport.close()
        c.out.removeAll()
        connections[c.id] = nil
        counters.connectionsOpen.wrappingAdd(-1, ordering: .relaxed)
    }

    private func shutdown() {
        for c in Array(connections.values) {
            if let session = c.session {
                session.terminate()
                _ = session.produce(into: &c.out, limit: 64 << 10)
                if !c.out.isEmpty { _ = c.out.withUnsafeReadableBytes { c.transport.write($0) } }
            }
            close(c)
        }
        _ = Glibc.close(listenFD)
        _ = Glibc.close(epollFD)
    }

    /// The answer to an HTTP/1.x request on this port.
    static let http1Reply: [UInt8] = {
        let body = """
            This is an HTTP/2 endpoint (Lanner collector). It speaks cleartext HTTP/2 with prior knowledge (h2c)
            only, not HTTP/1.1. Use an HTTP/2 client, e.g.: curl --http2-prior-knowledge http://HOST:PORT/PATH

            """
        return Array(("HTTP/1.1 505 HTTP Version Not Supported\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\n"
            + "Content-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body).utf8)
    }()
}

@available(*, unavailable)
extension ServerLoop: Sendable {}

@available(*, unavailable)
extension ServerConnection: Sendable {}
