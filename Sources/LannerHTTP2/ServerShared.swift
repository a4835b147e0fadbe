import Synchronization
import CNGHTTP2
#if canImport(Glibc)
import Glibc
#endif

/// The server's counters, written by the loop thread and read from anywhere.
final class ServerCounterCells: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsOpen = Atomic<Int>(0)
    let connectionsRejected = Atomic<Int>(0)
    let requests = Atomic<Int>(0)
    let requestsDispatched = Atomic<Int>(0)
    let bytesIn = Atomic<Int>(0)
    let bytesOut = Atomic<Int>(0)
    let protocolErrors = Atomic<Int>(0)
    let http1Rejected = Atomic<Int>(0)
    let responses4xx = Atomic<Int>(0)
    let responses5xx = Atomic<Int>(0)
    let streamsReset = Atomic<Int>(0)
    let lateResponses = Atomic<Int>(0)
    let idleTimeouts = Atomic<Int>(0)

    func snapshot() -> H2ServerCounters {
        var c = H2ServerCounters()
        c.connectionsAccepted = connectionsAccepted.load(ordering: .relaxed)
        c.connectionsOpen = connectionsOpen.load(ordering: .relaxed)
        c.connectionsRejected = connectionsRejected.load(ordering: .relaxed)
        c.requests = requests.load(ordering: .relaxed)
        c.requestsDispatched = requestsDispatched.load(ordering: .relaxed)
        c.bytesIn = bytesIn.load(ordering: .relaxed)
        c.bytesOut = bytesOut.load(ordering: .relaxed)
        c.protocolErrors = protocolErrors.load(ordering: .relaxed)
        c.http1Rejected = http1Rejected.load(ordering: .relaxed)
        c.responses4xx = responses4xx.load(ordering: .relaxed)
        c.responses5xx = responses5xx.load(ordering: .relaxed)
        c.streamsReset = streamsReset.load(ordering: .relaxed)
        c.lateResponses = lateResponses.load(ordering: .relaxed)
        c.idleTimeouts = idleTimeouts.load(ordering: .relaxed)
        return c
    }
}

/// A response on its way from an application thread to the loop.
struct PendingResponse: Sendable {
    let connection: UInt64
    let stream: Int32
    let response: H2Response
}

/// What application threads share with the loop thread: the response queue, the stop request and the eventfd
/// that wakes the loop. The eventfd is written only under the lock and closed only under it, so a responder
/// racing with `stop()` can never write to a reused descriptor.
final class LoopShared: Sendable {
    let counters = ServerCounterCells()
    let wakeFD: Int32

    private struct State {
        var responses: [PendingResponse] = []
        var stopRequested = false
        var closed = false
        /// The loop is between epoll_wait calls and will look at the queue before sleeping again.
        var loopAwake = true
        /// The eventfd has been written since the loop last drained.
        var signaled = false
    }
    private let state = Mutex(State())

    init() throws(H2Error) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK | EFD_CLOEXEC))
        guard fd >= 0 else { throw .system(call: "eventfd", errno: errno, context: "creating the server wake-up") }
        wakeFD = fd
    }

    /// Queues a response (any thread). Returns false when the server is gone.
    @discardableResult
    func submit(_ response: PendingResponse) -> Bool {
        let accepted = state.withLock { s -> Bool in
            if s.closed { return false }
            s.responses.append(response)
            wakeLocked(&s)
            return true
        }
        if !accepted { counters.lateResponses.wrappingAdd(1, ordering: .relaxed) }
        return accepted
    }

    /// Asks the loop to stop (any thread).
    func requestStop() {
        state.withLock { s in
            if s.closed { return }
            s.stopRequested = true
            wakeLocked(&s)
        }
    }

    private func wakeLocked(_ s: inout State) {
        if !s.loopAwake && !s.signaled {
            s.signaled = true
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }

    /// Loop thread, before epoll_wait: false when there is work already (do not block).
    func prepareToSleep() -> Bool {
        state.withLock { s in
            if !s.responses.isEmpty || s.stopRequested { return false }
            s.loopAwake = false
            return true
        }
    }

    /// Loop thread, after epoll_wait.
    func wokeUp() {
        state.withLock { $0.loopAwake = true }
    }

    /// Loop thread: takes the queued responses and whether a stop was requested.
    func take() -> (responses: [PendingResponse], stop: Bool) {
        state.withLock { s in
            let r = s.responses
            s.responses = []
            s.signaled = false
            return (r, s.stopRequested)
        }
    }

    /// Loop thread: resets the eventfd counter after it became readable.
    func drainWakeFD() {
        var value: UInt64 = 0
        _ = read(wakeFD, &value, 8)
    }

    /// After the loop thread ended: refuse further responses and close the eventfd.
    func close() {
        let dropped = state.withLock { s -> Int in
            if s.closed { return 0 }
            s.closed = true
            _ = Glibc.close(wakeFD)
            let n = s.responses.count
            s.responses = []
            return n
        }
        if dropped > 0 { counters.lateResponses.wrappingAdd(dropped, ordering: .relaxed) }
    }
}

/// Backs one `H2Responder`: delivers the first call, ignores later ones, and answers 500 by itself if the
/// application drops the responder without calling it.
final class ResponderBox: Sendable {
    private let shared: LoopShared
    private let connection: UInt64
    private let stream: Int32
    private let fired = Atomic<Bool>(false)

    init(shared: LoopShared, connection: UInt64, stream: Int32) {
        self.shared = shared
        self.connection = connection
        self.stream = stream
    }

    func respond(_ response: H2Response) {
        if !fired.exchange(true, ordering: .acquiringAndReleasing) {
            shared.submit(PendingResponse(connection: connection, stream: stream, response: response))
        }
    }

    deinit {
        if !fired.load(ordering: .acquiring) {
            shared.submit(PendingResponse(connection: connection, stream: stream,
                                          response: .text(500, "the request handler did not answer\n")))
        }
    }
}
