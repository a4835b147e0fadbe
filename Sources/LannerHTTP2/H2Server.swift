import Synchronization
import CNGHTTP2
#if canImport(Glibc)
import Glibc
#endif

/// Receives the server's and client's rare noteworthy events (protocol errors, accept failures) as one line each.
public typealias H2Log = @Sendable (String) -> Void

/// A cleartext HTTP/2 (h2c, prior knowledge) server over libnghttp2.
///
/// One event-loop thread runs non-blocking sockets under epoll for every connection and stream. Complete requests
/// are handed to `handler` **on the loop thread**, together with a responder: the handler must return quickly
/// (hand slow work such as decoding, rule evaluation or SQLite commits to other threads) and the responder may
/// then be called later, from any thread. The loop enforces `H2Limits` and survives misbehaving clients:
/// garbage instead of the preface, HTTP/1.x (answered `505` with an explanation), truncated frames, huge
/// headers, floods and abrupt disconnects all end that one connection and are counted.
///
/// ```swift
/// let server = try H2Server(host: "0.0.0.0", port: 7443) { request, respond in
///     workQueue.async { respond(H2Response(status: 200, body: process(request.body))) }
/// }
/// try server.start()
/// print("listening on", server.boundPort)
/// ...
/// server.stop()
/// ```
public final class H2Server: Sendable {
    /// The port the server listens on (the chosen one when created with port 0).
    public let boundPort: UInt16
    /// The host it was bound to.
    public let host: String
    /// The limits in force (after clamping to what HTTP/2 allows).
    public let limits: H2Limits

    private let handler: @Sendable (H2Request, @escaping H2Responder) -> Void
    private let log: H2Log?
    private let shared: LoopShared

    private enum Lifecycle {
        case ready(listenFD: Int32)
        case running(thread: pthread_t)
        case stopped
    }
    private let lifecycle: Mutex<Lifecycle>

    /// Binds `host:port` (port 0 picks a free port, see `boundPort`) and prepares the server; `start()` runs it.
    ///
    /// - Parameters:
    ///   - host: Address or name to listen on (`0.0.0.0`, `::`, `127.0.0.1`, `localhost`).
    ///   - port: TCP port, 0 for an ephemeral one.
    ///   - limits: Per-connection and per-request limits.
    ///   - log: Where to report protocol errors and system failures; nil to only count them.
    ///   - handler: Called on the loop thread for each complete request; must not block. Call the responder exactly
    ///     once, from any thread, whenever the answer is ready.
    /// - Throws: `H2Error.invalidAddress` or `.system` (e.g. `bind` with `EADDRINUSE`).
    public init(host: String, port: UInt16, limits: H2Limits = .init(), log: H2Log? = nil,
                handler: @escaping @Sendable (H2Request, @escaping H2Responder) -> Void) throws(H2Error) {
        let shared = try LoopShared()
        let listener: (fd: Int32, port: UInt16)
        do {
            listener = try Socket.listen(host: host, port: port)
        } catch {
            shared.close()
            throw error
        }
        self.host = host
        self.boundPort = listener.port
        self.limits = limits.normalized
        self.handler = handler
        self.log = log
        self.shared = shared
        self.lifecycle = Mutex(.ready(listenFD: listener.fd))
    }

    deinit {
        stop()
    }

    /// Starts the event-loop thread.
    ///
    /// - Throws: `H2Error.invalidState` if already started or stopped; `.system` if epoll or the thread cannot
    ///   be created.
    public func start() throws(H2Error) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(H2Error) in
            guard case .ready(let listenFD) = state else {
                throw .invalidState("H2Server.start(): the server was already started or stopped")
            }
            let loop = try ServerLoop(listenFD: listenFD, limits: limits, shared: shared, log: log, handler: handler)
            let shared = self.shared
            let thread = try LoopThread.spawn(name: "lanner-h2") {
                loop.run()
                shared.close()   // no responses after the loop is gone; the eventfd is released here
            }
            state = .running(thread: thread)
        }
    }

    /// Closes the listener and every connection (sending GOAWAY), and waits for the loop thread to end.
    /// Responses submitted afterwards are dropped. Idempotent; also called by deinit.
    public func stop() {
        let previous = lifecycle.withLock { state -> Lifecycle in
            let p = state
            state = .stopped
            return p
        }
        switch previous {
        case .ready(let listenFD):
            _ = Glibc.close(listenFD)
        case .running(let thread):
            shared.requestStop()
            if pthread_equal(thread, pthread_self()) != 0 {
                // Called from the handler on the loop thread: it will stop after this iteration; cannot join itself.
                pthread_detach(thread)
                return
            }
            pthread_join(thread, nil)
        case .stopped:
            return
        }
        shared.close()   // idempotent
    }

    /// The counters since creation.
    public var counters: H2ServerCounters { shared.counters.snapshot() }
}

/// A joinable pthread running a Swift closure (Foundation's `Thread` cannot be joined).
public enum LoopThread {
    private final class Body {
        let run: () -> Void
        init(_ run: @escaping () -> Void) { self.run = run }
    }

    public static func spawn(name: String, _ body: sending @escaping () -> Void) throws(H2Error) -> pthread_t {
        var thread = pthread_t()
        let context = Unmanaged.passRetained(Body(body)).toOpaque()
        let rc = pthread_create(&thread, nil, { raw in
            let body = Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Body>.fromOpaque(context).release()
            throw .system(call: "pthread_create", errno: rc, context: "starting the server loop")
        }
        _ = lanner_pthread_setname(thread, String(name.prefix(15)))
        return thread
    }
}
