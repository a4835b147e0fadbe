import FoundationEssentials
import Glibc
import Testing
import LannerCore

@Suite struct PosixConditionTests {
    /// A thread that signals `cond` (under its lock, setting `flag`) after 50 ms.
    final class Signaller: @unchecked Sendable {
        let cond = PosixCondition()
        var flag = false
        func signalSoon() -> pthread_t {
            var t = pthread_t()
            let me = Unmanaged.passRetained(self).toOpaque()
            pthread_create(&t, nil, { raw in
                let s = Unmanaged<Signaller>.fromOpaque(raw!).takeRetainedValue()
                usleep(50_000)
                s.cond.lock()
                s.flag = true
                s.cond.signal()
                s.cond.unlock()
                return nil
            }, me)
            return t
        }
    }

    /// Deadlines beyond Int.max seconds (and an infinite one) trapped in Int(t); they now wait for the signal.
    @Test(arguments: [1e19, 1e300, Double.infinity, Date.distantFuture.timeIntervalSince1970])
    func farFutureDeadlinesWaitForTheSignal(_ seconds: Double) {
        let s = Signaller()
        s.cond.lock()
        let t = s.signalSoon()
        var signalled = true
        while !s.flag && signalled { signalled = s.cond.wait(until: Date(timeIntervalSince1970: seconds)) }
        s.cond.unlock()
        pthread_join(t, nil)
        #expect(signalled && s.flag)
    }

    @Test(arguments: [-1e300, -1, 0, 1_000_000])
    func pastDeadlinesTimeOutAtOnce(_ seconds: Double) {
        let c = PosixCondition()
        let start = Date()
        c.lock()
        let r = c.wait(until: Date(timeIntervalSince1970: seconds))
        c.unlock()
        #expect(r == false)
        #expect(Date().timeIntervalSince(start) < 1)
    }
}
