#include <nghttp2/nghttp2.h>

/* The HTTP/2 transport's system interfaces that Swift's Glibc module does not export. */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <pthread.h>

/* accept4 and pthread_setname_np are GNU extensions, hidden unless _GNU_SOURCE was defined before glibc's
   features.h — which the Glibc module has already processed without it. Declare them locally. */
static inline int lanner_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags) {
    extern int accept4(int, struct sockaddr *, socklen_t *, int);
    return accept4(fd, addr, len, flags);
}

static inline int lanner_pthread_setname(pthread_t thread, const char *name) {
    extern int pthread_setname_np(pthread_t, const char *);
    return pthread_setname_np(thread, name);
}
