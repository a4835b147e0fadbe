import Foundation
import LannerRules

/// Looks names up as the system does: getaddrinfo(3) with AF_UNSPEC (A and AAAA records, /etc/hosts first as
/// nsswitch.conf says), as Falco's DNS manager does. Blocks for as long as the system resolver takes; call it
/// only from a resolver thread.
public struct SystemDomainResolver: DomainResolver {
    public init() {}

    public func resolve(_ name: String) -> DomainAnswer {
        // A name with a NUL would be cut short by the C string; no domain name has one.
        guard !name.isEmpty, !name.utf8.contains(0) else { return .noSuchName }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)   // one entry per address instead of one per socket type
        var result: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(name, nil, &hints, &result)
        defer { if let result { freeaddrinfo(result) } }
        guard rc == 0 else {
            // EAI_NODATA (-5) and EAI_ADDRFAMILY (-9) are GNU extensions Swift's Glibc module does not export.
            if rc == EAI_NONAME || rc == -5 || rc == -9 { return .noSuchName }
            let why = rc == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(rc))
            return .failed(why)
        }
        var out: [IPAddress] = []
        var p = result
        while let ai = p {
            if let sa = ai.pointee.ai_addr {
                switch Int32(ai.pointee.ai_family) {
                case AF_INET:
                    sa.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                        let a = sin.pointee.sin_addr.s_addr   // network order in memory
                        if let ip = withUnsafeBytes(of: a, { IPAddress(bytes: $0) }) { out.append(ip) }
                    }
                case AF_INET6:
                    sa.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { sin6 in
                        if let ip = withUnsafeBytes(of: sin6.pointee.sin6_addr, { IPAddress(bytes: $0) }) { out.append(ip) }
                    }
                default:
                    break
                }
            }
            p = ai.pointee.ai_next
        }
        return DomainAnswer.of(out)
    }
}
