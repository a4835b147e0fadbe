#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

/* The OpenSSL calls below are macros over SSL_CTX_ctrl / SSL_ctrl, which Swift cannot import; these inline
   wrappers hand them over as functions. Nothing else lives here. */
static inline int lanner_ssl_ctx_set_min_tls12(SSL_CTX *ctx) {
    return (int)SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
}
static inline void lanner_ssl_ctx_set_client_options(SSL_CTX *ctx) {
    /* Partial writes: a non-blocking SSL_write may report a prefix; the buffer may move between retries.
       An EOF without close_notify reads as an ordinary end of stream (HTTP bodies are length-framed). */
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
}
static inline int lanner_ssl_set_sni(SSL *ssl, const char *name) {
    return (int)SSL_set_tlsext_host_name(ssl, name);
}
