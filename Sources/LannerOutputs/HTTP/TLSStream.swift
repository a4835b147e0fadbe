import COpenSSL
import Glibc

/// A TLS client configuration (OpenSSL `SSL_CTX`): TLS 1.2 or newer, the server's certificate verified
/// against the system CA store (`SSL_CTX_set_default_verify_paths`: Debian's /etc/ssl/certs) or only the
/// CAs in `caFile`, and the host name (or IP address) checked against the certificate. There is no way to
/// turn verification off.
final class TLSClientContext: @unchecked Sendable {
    let ctx: OpaquePointer

    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    init(caFile: String?) throws(SetupError) {
        ERR_clear_error()
        guard let ctx = SSL_CTX_new(TLS_client_method()) else {
            throw SetupError(description: "cannot create a TLS context: \(TLSStream.errorQueue() ?? "unknown OpenSSL error")")
        }
        self.ctx = ctx
        _ = lanner_ssl_ctx_set_min_tls12(ctx)
        lanner_ssl_ctx_set_client_options(ctx)
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nil)
        if let caFile {
            guard access(caFile, R_OK) == 0 else {
                throw SetupError(description: "ca_file '\(caFile)': \(errnoText(errno))")
            }
            guard SSL_CTX_load_verify_locations(ctx, caFile, nil) == 1 else {
                throw SetupError(description: "ca_file '\(caFile)' holds no usable PEM certificate: \(TLSStream.errorQueue() ?? "unknown error")")
            }
        } else if SSL_CTX_set_default_verify_paths(ctx) != 1 {
            throw SetupError(description: "cannot load the system CA store: \(TLSStream.errorQueue() ?? "unknown error")")
        }
    }

    deinit { SSL_CTX_free(ctx) }
}

/// TLS over a connected non-blocking TCP socket (OpenSSL `SSL`), owned by one thread.
final class TLSStream: ByteStream {
    private let tcp: TCPStream
    private var ssl: OpaquePointer?
    let host: String

    var fd: Int32 { tcp.fd }

    /// Sets up the client side: SNI for names, and the name or address the certificate must carry.
    init(tcp: TCPStream, context: TLSClientContext, host: String, hostIsAddress: Bool) throws(HTTPClientError) {
        self.tcp = tcp
        self.host = host
        ERR_clear_error()
        guard let ssl = SSL_new(context.ctx) else {
            throw HTTPClientError(message: "TLS: SSL_new: \(Self.errorQueue() ?? "out of memory")")
        }
        self.ssl = ssl
        let param = SSL_get0_param(ssl)
        X509_VERIFY_PARAM_set_hostflags(param, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
        let named: Int32 = hostIsAddress ? X509_VERIFY_PARAM_set1_ip_asc(param, host) : X509_VERIFY_PARAM_set1_host(param, host, 0)
        guard named == 1 else { throw HTTPClientError(message: "TLS: cannot check the certificate against '\(host)'") }
        if !hostIsAddress { _ = lanner_ssl_set_sni(ssl, host) }
        guard SSL_set_fd(ssl, tcp.fd) == 1 else { throw HTTPClientError(message: "TLS: SSL_set_fd failed") }
    }

    deinit { close() }

    /// Runs the handshake to completion before `deadline`; the error says why the server was refused.
    func handshake(until deadline: Deadline, cancel: Canceller) -> HTTPClientError? {
        guard let ssl else { return HTTPClientError(message: "TLS: closed") }
        while true {
            ERR_clear_error()
            let r = SSL_connect(ssl)
            if r == 1 { return nil }
            let e = SSL_get_error(ssl, r)
            let events: Int32
            switch e {
            case SSL_ERROR_WANT_READ: events = POLLIN
            case SSL_ERROR_WANT_WRITE: events = POLLOUT
            default:
                return HTTPClientError(message: "TLS handshake with \(host):\(tcp.peer.split(separator: ":").last ?? "") failed: " + handshakeFailure(e))
            }
            switch cancel.wait(fd: tcp.fd, events: Int16(events), until: deadline) {
            case .ready: continue
            case .cancelled: return .cancelled
            case .timedOut: return HTTPClientError(message: "timed out in the TLS handshake with \(tcp.peer)")
            }
        }
    }

    private func handshakeFailure(_ e: Int32) -> String {
        guard let ssl else { return "closed" }
        let verify = SSL_get_verify_result(ssl)
        if verify != X509_V_OK {
            let text = String(cString: X509_verify_cert_error_string(verify))
            switch Int32(verify) {
            case X509_V_ERR_HOSTNAME_MISMATCH:
                return "the server's certificate is not valid for the name '\(host)' (\(text))"
            case X509_V_ERR_IP_ADDRESS_MISMATCH:
                return "the server's certificate is not valid for the address \(host) (\(text))"
            case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT, X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN,
                 X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY, X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
                return "the server's certificate is not signed by a trusted CA (\(text)); set ca_file to the CA that signed it"
            default:
                return "the server's certificate was refused (\(text))"
            }
        }
        if e == SSL_ERROR_SYSCALL {
            let q = Self.errorQueue()
            return q ?? (errno != 0 ? errnoText(errno) : "the server closed the connection")
        }
        return Self.errorQueue() ?? "TLS error \(e)"
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) -> StreamStep {
        guard let ssl else { return .failed("closed") }
        ERR_clear_error()
        let n = SSL_read(ssl, buffer.baseAddress, Int32(clamping: buffer.count))
        if n > 0 { return .bytes(Int(n)) }
        return step(SSL_get_error(ssl, n))
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> StreamStep {
        guard let ssl else { return .failed("closed") }
        ERR_clear_error()
        let n = SSL_write(ssl, bytes.baseAddress, Int32(clamping: bytes.count))
        if n > 0 { return .bytes(Int(n)) }
        return step(SSL_get_error(ssl, n))
    }

    private func step(_ e: Int32) -> StreamStep {
        switch e {
        case SSL_ERROR_WANT_READ: return .wantRead
        case SSL_ERROR_WANT_WRITE: return .wantWrite
        case SSL_ERROR_ZERO_RETURN: return .eof
        case SSL_ERROR_SYSCALL:
            if let q = Self.errorQueue() { return .failed("TLS: " + q) }
            return errno == 0 ? .eof : .failed(errnoText(errno))
        default:
            return .failed("TLS: " + (Self.errorQueue() ?? "error \(e)"))
        }
    }

    func isReusable() -> Bool {
        // An idle TLS connection may hold records that are not data (TLS 1.3 session tickets): read them.
        // Open and idle is "nothing to read"; data or close_notify means start afresh.
        var b: UInt8 = 0
        let r = withUnsafeMutableBytes(of: &b) { read(into: $0) }
        return r == .wantRead
    }

    func close() {
        if let ssl {
            ERR_clear_error()
            _ = SSL_shutdown(ssl)   // close_notify, without waiting for the peer's
            SSL_free(ssl)
            self.ssl = nil
        }
        tcp.close()
        ERR_clear_error()
    }

    /// The oldest error in OpenSSL's (per-thread) queue as text, and empties the queue; nil if empty.
    static func errorQueue() -> String? {
        let e = ERR_get_error()
        guard e != 0 else { return nil }
        var buf = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(e, &buf, buf.count)
        ERR_clear_error()
        return string(fromCBuffer: buf)
    }
}
