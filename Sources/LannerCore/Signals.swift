import Glibc

/// Clean shutdown on SIGINT / SIGTERM without signal handlers: the signals are blocked in every thread and
/// one thread waits for them with sigwait. Call `blockTermination()` first thing in `main`, before any
/// thread exists, so every later thread inherits the mask.
public enum Signals {
    static func set() -> sigset_t {
        var s = sigset_t()
        sigemptyset(&s)
        sigaddset(&s, SIGINT)
        sigaddset(&s, SIGTERM)
        return s
    }

    /// Gives SIGINT and SIGTERM their default action even when the parent left them ignored (a
    /// non-interactive shell starts `cmd &` with SIGINT ignored): Lanner's programs always stop on them.
    /// Also unblocks them (a parent may have spawned us with them blocked).
    public static func restoreDefaults() {
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        var s = set()
        pthread_sigmask(SIG_UNBLOCK, &s, nil)
    }

    /// Blocks SIGINT and SIGTERM in the calling thread (and the threads it creates), after restoring their
    /// default action (an ignored signal is discarded and would never reach sigwait); ignores SIGPIPE.
    public static func blockTermination() {
        restoreDefaults()
        var s = set()
        pthread_sigmask(SIG_BLOCK, &s, nil)
        signal(SIGPIPE, SIG_IGN)
    }

    /// Waits in the calling thread for SIGINT or SIGTERM and returns which arrived.
    public static func waitForTermination() -> Int32 {
        var s = set()
        var sig: Int32 = 0
        while sigwait(&s, &sig) != 0 {}
        return sig
    }

    /// Blocks SIGHUP too (after `blockTermination()`), so that `waitForTerminationOrHangup` receives it instead of
    /// it ending the process (a daemon's "reload your configuration").
    public static func blockHangup() {
        signal(SIGHUP, SIG_DFL)
        var s = sigset_t()
        sigemptyset(&s)
        sigaddset(&s, SIGHUP)
        pthread_sigmask(SIG_BLOCK, &s, nil)
    }

    /// Waits for SIGINT, SIGTERM or SIGHUP (see `blockHangup`) and returns which arrived.
    public static func waitForTerminationOrHangup() -> Int32 {
        var s = set()
        sigaddset(&s, SIGHUP)
        var sig: Int32 = 0
        while sigwait(&s, &sig) != 0 {}
        return sig
    }

    /// As `waitForTerminationOrHangup`, for at most `timeout`: nil when none arrived by then.
    public static func waitForTerminationOrHangup(timeout: Duration) -> Int32? {
        var s = set()
        sigaddset(&s, SIGHUP)
        let (secs, attos) = max(timeout, .zero).components
        var ts = timespec(tv_sec: Int(secs), tv_nsec: Int(attos / 1_000_000_000))
        while true {
            let sig = sigtimedwait(&s, nil, &ts)
            if sig > 0 { return sig }
            if errno == EAGAIN { return nil }
            // EINTR: another signal's handler ran; wait again (for at most the whole timeout: a poll comes a little late).
        }
    }

    /// Calls `handler` on a dedicated thread when SIGINT or SIGTERM arrives (each time one does).
    public static func onTermination(_ handler: @escaping @Sendable (Int32) -> Void) {
        let box = Unmanaged.passRetained(HandlerBox(handler)).toOpaque()
        var tid = pthread_t()
        pthread_create(&tid, nil, { raw in
            let h = Unmanaged<HandlerBox>.fromOpaque(raw!).takeRetainedValue()
            while true { h.handler(Signals.waitForTermination()) }
        }, box)
        pthread_detach(tid)
    }

    final class HandlerBox {
        let handler: @Sendable (Int32) -> Void
        init(_ h: @escaping @Sendable (Int32) -> Void) { handler = h }
    }
}
