/* LD_PRELOAD shim for wrk: spread outgoing IPv4 loopback connections over source addresses.
 *
 * wrk cannot choose a source address (its Lua API sets only the destination, thread.addr), so
 * with one server address every connection shares one (source, destination, port) triple and,
 * at ~16k connections, connect() spends most of its time searching the ephemeral port range
 * (wrk measured ~94 us of CPU per request at 16,384 clients against ~31 at 1,024). This shim
 * wraps connect(): a TCP socket not yet bound, connecting to 127.0.0.0/8, is first bound to
 * 127.0.0.k (k = 1..WHYEVENTS_SRC_ADDRS, round robin) with IP_BIND_ADDRESS_NO_PORT, exactly as
 * the Python client does. The server keeps listening on 127.0.0.1 only.
 * Built by whyevents.loadgen.wrk on first use: cc -O2 -shared -fPIC -o srcspread.so srcspread.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int (*real_connect)(int, const struct sockaddr *, socklen_t);
static unsigned int naddrs;
static unsigned int next_addr;

__attribute__((constructor)) static void srcspread_init(void) {
    real_connect = (int (*)(int, const struct sockaddr *, socklen_t))dlsym(RTLD_NEXT, "connect");
    const char *v = getenv("WHYEVENTS_SRC_ADDRS");
    naddrs = v ? (unsigned int)strtoul(v, NULL, 10) : 0;
    if (naddrs > 254) naddrs = 254;
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    if (naddrs > 1 && addr != NULL && addr->sa_family == AF_INET &&
        len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *dst = (const struct sockaddr_in *)addr;
        struct sockaddr_in cur;
        socklen_t clen = sizeof(cur);
        if ((ntohl(dst->sin_addr.s_addr) >> 24) == 127 &&
            getsockname(fd, (struct sockaddr *)&cur, &clen) == 0 && cur.sin_port == 0 &&
            cur.sin_addr.s_addr == htonl(INADDR_ANY)) {
            unsigned int k = __atomic_fetch_add(&next_addr, 1, __ATOMIC_RELAXED) % naddrs;
            struct sockaddr_in src;
            int one = 1;
            memset(&src, 0, sizeof(src));
            src.sin_family = AF_INET;
            src.sin_addr.s_addr = htonl(0x7f000001u + k);
            setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
            bind(fd, (const struct sockaddr *)&src, sizeof(src)); /* failure: kernel's choice */
        }
    }
    return real_connect(fd, addr, len);
}
