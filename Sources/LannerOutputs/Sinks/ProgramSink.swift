import Glibc
import LannerStore

/// Alerts piped to a shell command, one line each on its stdin.
///
/// Long-lived (`keep_alive: true`): one process, started with the output, reads every alert. An alert counts
/// as delivered once the program has read it from its pipe (the sink tracks the pipe's unread bytes with
/// FIONREAD against the end offset of each line it wrote), not merely when it was written. When the program
/// exits, the alerts still unread in its pipe are written again to the next process, first; each loss counts
/// as a failed attempt of that alert, and an alert is given up on (by id) after `retries + 1` failed attempts
/// in all, whichever way they failed. The program is started again when
/// an alert is waiting: at once the first time, then after a pause that doubles from `backoff` up to
/// `max_backoff` while it keeps exiting within 10 s of starting, so a command that cannot run is not
/// restarted in a tight loop. While it does not read, writes wait (cancellably): its queue fills and drops
/// are counted, and nothing else waits.
///
/// Per alert (`keep_alive: false`): a process per alert gets the line and end of input; success is exit
/// status 0 within `timeout`, else it is killed (SIGKILL to its process group) and the attempt failed.
///
/// At shutdown the long-lived program has until the deadline to read what is in its pipe; then it gets end
/// of input and the rest of the deadline to exit, then SIGTERM and SIGKILL. Unread alerts are abandoned.
final class ProgramSink: AlertSink {
    let config: ProgramOutputConfig
    private var context = SinkContext(log: { _ in })
    private var process: ShellProcess?
    private var lastStart: ContinuousClock.Instant?
    private var quickExits = 0
    private var spawned = 0

    /// A line written to the current process and not yet known to be read.
    private struct Sent {
        var alert: StoredAlert
        var line: [UInt8]
        /// Offset just past the line in the bytes written to the current process.
        var end: UInt64 = 0
        /// Failed attempts so far: the output's own before this write, then processes that exited without reading it.
        var failures = 0
    }
    private var inPipe: [Sent] = []
    /// Unread by a process that exited: written first to the next one.
    private var resend: [Sent] = []
    /// Bytes written to the current process.
    private var written: UInt64 = 0

    /// A process that lived at least this long counts as having run, and resets the restart backoff.
    static let stableUptime: Duration = .seconds(10)

    init(config: ProgramOutputConfig) { self.config = config }

    func attach(_ context: SinkContext) { self.context = context }

    private func log(_ s: String) { context.log("output program: " + s) }

    var hasPending: Bool { !inPipe.isEmpty || !resend.isEmpty }

    func start(cancel: Canceller) {
        guard config.keepAlive else { return }
        if case .failed(let f)? = ensureRunning(cancel: cancel) { log(f.message) }
    }

    func deliver(_ alert: StoredAlert, attempt: Int, cancel: Canceller) -> DeliveryOutcome {
        let line = Array((AlertText.render(alert, as: config.format) + "\n").utf8)
        guard config.keepAlive else { return deliverOnce(line, cancel: cancel) }
        settle()
        if let stop = ensureRunning(cancel: cancel) ?? writeResends(cancel: cancel) { return stop }
        var sent = Sent(alert: alert, line: line, failures: attempt - 1)
        switch write(&sent, cancel: cancel) {
        case .done:
            inPipe.append(sent)
            settle()
            return .pending
        case .cancelled:
            return .cancelled
        case .failed(let f):
            return .failed(f)
        }
    }

    func idle(cancel: Canceller) {
        settle()
        if process == nil && !resend.isEmpty {
            _ = ensureRunning(cancel: cancel) ?? writeResends(cancel: cancel)
        }
    }

    // MARK: long-lived

    private enum WriteResult {
        case done
        case cancelled
        case failed(DeliveryFailure)
    }

    /// Writes one line to the current process, setting its end offset.
    private func write(_ s: inout Sent, cancel: Canceller) -> WriteResult {
        guard let p = process else { return .failed(DeliveryFailure(message: "the program is not running")) }
        let result = writeAll(p.stdinFD, s.line, until: .never, cancel: cancel)
        switch result {
        case .done:
            written += UInt64(s.line.count)
            s.end = written
            return .done
        case .cancelled(let n):
            written += UInt64(n)
            return .cancelled
        case .timedOut(let n):
            written += UInt64(n)
            return .failed(DeliveryFailure(message: "write to the program timed out"))
        case .failed(let e, let n):
            written += UInt64(n)
            // EPIPE: it exited or closed its stdin. Wait a moment for it to exit, so its status can be told.
            if p.wait(until: .after(.seconds(1)), cancel: cancel) == nil, !cancel.isCancelled {
                p.terminate(grace: .milliseconds(500))
            }
            let status = p.status
            settle()
            let why = e == EPIPE ? "the program \(status.map(\.description) ?? "closed its input")"
                : "write to the program: \(errnoText(e))"
            return .failed(DeliveryFailure(message: why))
        }
    }

    /// Writes the alerts a previous process left unread; nil when all are in the current pipe.
    private func writeResends(cancel: Canceller) -> DeliveryOutcome? {
        while !resend.isEmpty {
            var s = resend[0]
            switch write(&s, cancel: cancel) {
            case .done:
                resend.removeFirst()
                inPipe.append(s)
            case .cancelled:
                return .cancelled
            case .failed(let f):
                // The next process died before taking it: one more failed attempt for this alert.
                resend[0].failures += 1
                context.failedAttempts(1, f.message)
                if resend[0].failures > config.delivery.retries {
                    let gone = resend.removeFirst()
                    context.gaveUp(gone.alert, "after \(gone.failures) attempts: \(f.message)")
                }
                return .failed(f)
            }
        }
        return nil
    }

    /// Counts what the program has read as delivered; when it has exited, sends its unread alerts to the next
    /// process (or gives up on those it already lost too often).
    private func settle() {
        guard let p = process else { return }
        let status = p.poll()   // first, so the unread count below is final when it has exited
        let unread = UInt64(max(0, p.unreadBytes))
        let readUpTo = written - min(unread, written)
        var n = 0
        while n < inPipe.count && inPipe[n].end <= readUpTo { n += 1 }
        if n > 0 {
            inPipe.removeFirst(n)
            context.delivered(n)
        }
        guard let status else { return }
        let lost = inPipe
        inPipe = []
        process = nil
        written = 0
        quickExits = p.uptime < Self.stableUptime ? quickExits + 1 : 0
        var s = "'\(config.command)' (pid \(p.pid)) \(status) after \(DurationText.format(.milliseconds(p.uptime.milliseconds)))"
        if !lost.isEmpty {
            s += "; \(lost.count) alert\(lost.count == 1 ? "" : "s") it had not read (ids \(lost.prefix(20).map { String($0.alert.id) }.joined(separator: ", "))"
                + "\(lost.count > 20 ? ", …" : "")) will be sent to the next process"
        }
        if let pause = restartPause() { s += "; starting it again in \(DurationText.format(.milliseconds(pause.milliseconds))) at the earliest" }
        log(s)
        guard !lost.isEmpty else { return }
        context.failedAttempts(lost.count, "the program \(status) before reading \(lost.count) alert\(lost.count == 1 ? "" : "s")")
        for var sent in lost {
            sent.failures += 1
            if sent.failures > config.delivery.retries {
                context.gaveUp(sent.alert, "after \(sent.failures) attempts: the program \(status) without reading it")
            } else {
                resend.append(sent)
            }
        }
    }

    /// Starts the process if it is not running; nil when it runs.
    private func ensureRunning(cancel: Canceller) -> DeliveryOutcome? {
        if process != nil { return nil }
        if let wait = restartPause(), !cancel.sleep(wait) { return .cancelled }
        do {
            let p = try ShellProcess.spawn(config.command)
            process = p
            written = 0
            lastStart = .now
            spawned += 1
            if spawned > 1 { context.restarted() }
            return nil
        } catch {
            quickExits += 1
            lastStart = .now
            return .failed(DeliveryFailure(message: "cannot start /bin/sh: \(error)"))
        }
    }

    /// How long to wait before starting the process again; nil for no wait.
    private func restartPause() -> Duration? {
        guard quickExits > 0, let lastStart else { return nil }
        let pause = config.delivery.delay(beforeRetry: quickExits)
        let elapsed = lastStart.duration(to: .now)
        return elapsed < pause ? pause - elapsed : nil
    }

    // MARK: per alert

    private func deliverOnce(_ line: [UInt8], cancel: Canceller) -> DeliveryOutcome {
        let p: ShellProcess
        do { p = try ShellProcess.spawn(config.command) } catch {
            return .failed(DeliveryFailure(message: "cannot start /bin/sh: \(error)"))
        }
        let deadline = Deadline.after(config.timeout)
        let written = writeAll(p.stdinFD, line, until: deadline, cancel: cancel)
        p.closeStdin()
        if case .cancelled = written {
            p.terminate(grace: .zero)
            return .cancelled
        }
        guard let status = p.wait(until: deadline, cancel: cancel) else {
            p.killGroup(SIGKILL)
            p.terminate(grace: .zero)
            if cancel.isCancelled { return .cancelled }
            return .failed(DeliveryFailure(message: "the program did not finish within \(DurationText.format(config.timeout)); killed"))
        }
        if status.succeeded { return .delivered }
        return .failed(DeliveryFailure(message: "the program \(status)"))
    }

    // MARK: stop

    func close(deadline: Deadline, cancel: Canceller) {
        guard config.keepAlive else { return }
        if !cancel.isCancelled && !resend.isEmpty {
            _ = ensureRunning(cancel: cancel) ?? writeResends(cancel: cancel)
        }
        // Let it read what is in its pipe, until the deadline.
        while let p = process, !inPipe.isEmpty, !cancel.isCancelled, !deadline.hasPassed {
            _ = p.wait(until: Deadline.after(.milliseconds(5)).earlier(deadline), cancel: cancel)
            settle()
        }
        settle()
        if let p = process {
            process = nil
            let unread = inPipe.count
            inPipe = []
            p.closeStdin()   // end of input: a well-behaved program finishes and exits
            if unread > 0 { context.abandoned(unread) }
            if !cancel.isCancelled, let status = p.wait(until: deadline, cancel: cancel) {
                if !status.succeeded { log("'\(config.command)' (pid \(p.pid)) \(status) at shutdown") }
            } else {
                let status = p.terminate(grace: .milliseconds(500))
                log("'\(config.command)' (pid \(p.pid)) had not exited by the shutdown deadline; stopped (\(status.description))"
                    + (unread > 0 ? "; \(unread) alert\(unread == 1 ? "" : "s") it had not read are abandoned" : ""))
            }
        }
        if !resend.isEmpty {
            log("\(resend.count) alert\(resend.count == 1 ? "" : "s") no process read before shutdown are abandoned")
            context.abandoned(resend.count)
            resend = []
        }
    }
}

extension Duration {
    /// Whole milliseconds.
    var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + atto / 1_000_000_000_000_000
    }
}
