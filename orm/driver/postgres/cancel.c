/* liborm — PostgreSQL cancel requests sent without blocking, and the reaper of abandoned
 * statements (see orm/driver/postgres/cancel.h for why).
 *
 * Keeps true: no function here blocks its caller on the network (sockets are non-blocking;
 * libpq's PQcancel runs only on its own detached thread); at most one request per
 * connection is in flight, so a frozen postmaster gets one request, not one per poll; a
 * fallback request and its thread share one reference-counted block freed by the last user.
 */
#define _GNU_SOURCE /* SOCK_NONBLOCK, SOCK_CLOEXEC */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "orm/alloc.h"
#include "orm/error_internal.h"
#include "orm/driver/postgres/cancel.h"

#define MODULE "postgres"

/* libpq's struct pg_cancel (libpq-int.h) from 9.x to 16 begins like this. */
typedef struct pg_cancel_head {
    struct sockaddr_storage addr;
    socklen_t salen;
    int be_pid;
    int be_key;
} pg_cancel_head;

/* Fallback threads running PQcancel at once, at most: a frozen postmaster holds each one
 * until it wakes, and more would only queue more requests behind it. */
#define MAX_CANCEL_THREADS 8

static atomic_int n_threads;
static atomic_uint lose_next;
static atomic_int force_thread;
static atomic_int n_reapers;

void orm__pg_cancel_test_lose(unsigned n) { atomic_store(&lose_next, n); }
void orm__pg_cancel_test_force_thread(int on) { atomic_store(&force_thread, on); }
int orm__pg_cancel_reapers(void) { return atomic_load(&n_reapers); }

struct pg_cancel_thread {
    PGcancel *pgc; /* the thread's own copy */
    atomic_int done;
    atomic_int refs; /* the thread and the request's owner */
};

static void thread_unref(pg_cancel_thread *t)
{
    if (atomic_fetch_sub(&t->refs, 1) == 1) {
        PQfreeCancel(t->pgc);
        orm__free(t);
    }
}

static void *cancel_thread(void *arg)
{
    pg_cancel_thread *t = arg;
    char err[256];
    PQcancel(t->pgc, err, (int)sizeof err); /* best effort: the owner still has its deadline */
    atomic_store(&t->done, 1);
    atomic_fetch_sub(&n_threads, 1);
    thread_unref(t);
    return NULL;
}

int orm__pg_cancel_init(orm_pg_cancel *cn, PGconn *pg)
{
    memset(cn, 0, sizeof *cn);
    cn->fd = -1;
    PGcancel *pgc = PQgetCancel(pg);
    if (!pgc)
        return orm__error_nomem(MODULE);
    const pg_cancel_head *h = (const pg_cancel_head *)(const void *)pgc;
    int pid = PQbackendPID(pg);
    /* 17 reorganised the struct (18 made the key variable-length): only older ones. */
    if (!atomic_load(&force_thread) && PQlibVersion() < 170000 && pid != 0 && h->be_pid == pid && h->salen > 0 &&
        h->salen <= (socklen_t)sizeof h->addr &&
        (h->addr.ss_family == AF_INET || h->addr.ss_family == AF_INET6 ||
         h->addr.ss_family == AF_UNIX)) {
        memcpy(&cn->addr, &h->addr, sizeof cn->addr);
        cn->addrlen = h->salen;
        cn->pid = (uint32_t)h->be_pid;
        cn->key = (uint32_t)h->be_key;
        cn->have_key = 1;
    }
    PQfreeCancel(pgc);
    cn->pg = pg; /* without the key: libpq's PQcancel on a thread, per request */
    return ORM_OK;
}

static void drop_request(orm_pg_cancel *cn)
{
    if (cn->fd >= 0)
        close(cn->fd);
    cn->fd = -1;
    cn->written = 0;
    if (cn->thr) {
        thread_unref(cn->thr);
        cn->thr = NULL;
    }
}

void orm__pg_cancel_free(orm_pg_cancel *cn) { drop_request(cn); }

static int send_thread(orm_pg_cancel *cn)
{
    if (atomic_fetch_add(&n_threads, 1) >= MAX_CANCEL_THREADS) {
        atomic_fetch_sub(&n_threads, 1);
        return orm__error_set(ORM_EBUSY, MODULE, "cancel: too many cancel requests in flight");
    }
    pg_cancel_thread *t = orm__calloc(1, sizeof *t);
    if (t && !(t->pgc = PQgetCancel(cn->pg))) {
        orm__free(t);
        t = NULL;
    }
    if (!t) {
        atomic_fetch_sub(&n_threads, 1);
        return orm__error_nomem(MODULE);
    }
    atomic_init(&t->done, 0);
    atomic_init(&t->refs, 2);
    pthread_attr_t at;
    pthread_t th;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int err = pthread_create(&th, &at, cancel_thread, t);
    pthread_attr_destroy(&at);
    if (err) {
        atomic_fetch_sub(&n_threads, 1);
        PQfreeCancel(t->pgc);
        orm__free(t);
        return orm__error_set(ORM_ENOMEM, MODULE, "cancel: no thread to send it (%s)", strerror(err));
    }
    cn->thr = t;
    return ORM_OK;
}

/* Write the CancelRequest on the connected socket. */
static int write_packet(orm_pg_cancel *cn)
{
    uint32_t pkt[4];
    uint32_t key = cn->key;
    if (atomic_load(&lose_next) > 0) {
        atomic_fetch_sub(&lose_next, 1);
        key ^= 0x5a5a5a5au; /* the postmaster drops a request with a wrong key, silently */
    }
    pkt[0] = htonl(16);
    pkt[1] = htonl(80877102u); /* the CancelRequest code: 1234 << 16 | 5678 */
    pkt[2] = htonl(cn->pid);
    pkt[3] = htonl(key);
    ssize_t n;
    do
        n = send(cn->fd, pkt, sizeof pkt, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n != (ssize_t)sizeof pkt) /* a fresh socket's buffer always takes 16 bytes */
        return -1;
    cn->written = 1;
    return 0;
}

int orm__pg_cancel_send(orm_pg_cancel *cn)
{
    if (orm__pg_cancel_busy(cn))
        return ORM_OK;
    cn->sent++;
    if (!cn->have_key)
        return send_thread(cn);
    int fd = socket(cn->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return orm__error_set(ORM_ECONN, MODULE, "cancel: socket: %s", strerror(errno));
    cn->fd = fd;
    int r;
    do
        r = connect(fd, (const struct sockaddr *)&cn->addr, cn->addrlen);
    while (r < 0 && errno == EINTR);
    if (r == 0) {
        if (write_packet(cn) != 0) {
            drop_request(cn);
            return orm__error_set(ORM_ECONN, MODULE, "cancel: could not write the request");
        }
    } else if (errno != EINPROGRESS) { /* EAGAIN: a unix socket's backlog is full */
        int e = errno;
        drop_request(cn);
        return orm__error_set(ORM_ECONN, MODULE, "cancel: connect: %s", strerror(e));
    }
    return ORM_OK;
}

int orm__pg_cancel_busy(orm_pg_cancel *cn)
{
    if (cn->thr) {
        if (!atomic_load(&cn->thr->done))
            return 1;
        thread_unref(cn->thr);
        cn->thr = NULL;
        return 0;
    }
    if (cn->fd < 0)
        return 0;
    struct pollfd p = { cn->fd, cn->written ? POLLIN : POLLOUT, 0 };
    if (poll(&p, 1, 0) <= 0)
        return 1;
    if (!cn->written) {
        int err = 0;
        socklen_t len = sizeof err;
        if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0 ||
            write_packet(cn) != 0) {
            drop_request(cn); /* failed: the caller may send again */
            return 0;
        }
        return 1;
    }
    /* The postmaster closes the socket once it has passed the request on (no data). */
    char b;
    ssize_t n = recv(cn->fd, &b, 1, 0);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    drop_request(cn);
    return 0;
}

int orm__pg_cancel_pollfd(const orm_pg_cancel *cn, short *events)
{
    if (cn->fd < 0)
        return -1;
    *events = cn->written ? POLLIN : POLLOUT;
    return cn->fd;
}

/* ---- the reaper ---- */

typedef struct reaper {
    PGconn *pg;
    orm_pg_cancel cn;
    int64_t limit_us;
} reaper;

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A statement still running this long after its cancel was acknowledged: the cancel was
 * lost (it arrived while the backend read the command, or was dropped): send another. The
 * pause doubles up to a second, so a frozen backend is not flooded. */
#define RESEND_FIRST_US INT64_C(50000)
#define RESEND_MAX_US INT64_C(1000000)

static void *reap(void *arg)
{
    reaper *r = arg;
    int64_t start = mono_us(), acked = 0, pause = RESEND_FIRST_US;
    orm__pg_cancel_send(&r->cn);
    while (PQstatus(r->pg) == CONNECTION_OK && PQisBusy(r->pg)) {
        int64_t now = mono_us();
        if (now - start >= r->limit_us)
            break;
        if (orm__pg_cancel_busy(&r->cn)) {
            acked = 0;
        } else if (!acked) {
            acked = now;
        } else if (now - acked >= pause) {
            orm__pg_cancel_send(&r->cn);
            acked = 0;
            pause = pause * 2 > RESEND_MAX_US ? RESEND_MAX_US : pause * 2;
        }
        struct pollfd p[2] = { { PQsocket(r->pg), POLLIN, 0 }, { -1, 0, 0 } };
        p[1].fd = orm__pg_cancel_pollfd(&r->cn, &p[1].events);
        if (poll(p, 2, 20) < 0 && errno != EINTR)
            break;
        if ((p[0].revents & (POLLIN | POLLERR | POLLHUP)) && !PQconsumeInput(r->pg))
            break;
    }
    PGresult *res;
    while (PQstatus(r->pg) == CONNECTION_OK && !PQisBusy(r->pg) && (res = PQgetResult(r->pg)) != NULL)
        PQclear(res);
    /* Let the last request reach the postmaster before its connection goes. */
    for (int i = 0; i < 50 && orm__pg_cancel_busy(&r->cn); i++) {
        struct pollfd p = { -1, 0, 0 };
        p.fd = orm__pg_cancel_pollfd(&r->cn, &p.events);
        poll(&p, p.fd >= 0 ? 1 : 0, 10);
    }
    PQfinish(r->pg);
    orm__pg_cancel_free(&r->cn);
    orm__free(r);
    atomic_fetch_sub(&n_reapers, 1);
    return NULL;
}

void orm__pg_cancel_reap(PGconn *pg, orm_pg_cancel *cn, int64_t limit_us)
{
    reaper *r = orm__malloc(sizeof *r);
    if (r) {
        r->pg = pg;
        r->cn = *cn;
        r->limit_us = limit_us;
        memset(cn, 0, sizeof *cn);
        cn->fd = -1;
        atomic_fetch_add(&n_reapers, 1);
        pthread_attr_t at;
        pthread_t th;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        int err = pthread_create(&th, &at, reap, r);
        pthread_attr_destroy(&at);
        if (err == 0)
            return;
        atomic_fetch_sub(&n_reapers, 1);
        *cn = r->cn;
        orm__free(r);
    }
    /* No thread: one request, then close (the server ends the statement when it next
     * writes to the closed socket). */
    orm__pg_cancel_send(cn);
    orm__pg_cancel_free(cn);
    PQfinish(pg);
}
