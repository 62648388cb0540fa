/* nodelay.so: an LD_PRELOAD shim that sets TCP_NODELAY on every TCP
 * socket a program connects, built by bench/run for bench/loadclient
 * and for the login benchmark's "mtls+nodelay" row (mtls-login and the
 * ssh it runs).
 *
 * Why: a TLS 1.3 client that writes its request right after its
 * Certificate/Finished flight, with Nagle's algorithm on, holds the
 * request until that flight is acknowledged; a server that sends nothing
 * after the handshake (mtlsd sends no session tickets) acknowledges it
 * only when its delayed-ACK timer fires, about 40 ms later. nginx sends
 * two session tickets at that point, which carry the ACK, so without this
 * a latency-bound run compares the client's Nagle stall, not the servers.
 * curl and most HTTP clients set TCP_NODELAY themselves; once
 * bench/loadclient does, this shim is a no-op and can go.
 *
 *   cc -shared -fPIC -I BUILDDIR -o nodelay.so bench/nodelay.c -ldl */
#include "config.h"

#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len);

int
connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	static connect_fn real;
	int one = 1;

	if (real == NULL) {
		/* POSIX lets a data pointer carry a function's address here. */
		void *sym = dlsym(RTLD_NEXT, "connect");

		if (sym == NULL)
			return -1;
		*(void **)&real = sym;
	}
	/* Best effort: a socket that refuses the option connects as it is
	 * (the option fails only on a socket that is not TCP). */
	if (addr != NULL && (addr->sa_family == AF_INET ||
	    addr->sa_family == AF_INET6))
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return real(fd, addr, len);
}
