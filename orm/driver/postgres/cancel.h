/* liborm internal — PostgreSQL cancel requests that never block the caller, and the reaper
 * that stops a statement left running on a connection the caller gave up on.
 *
 * libpq before 17 only has PQcancel, which connects to the postmaster and waits for it to
 * close the socket: with the server frozen (SIGSTOP, a dead host) it blocks for as long as
 * the freeze lasts. Here a request is a non-blocking socket driven by the waiting loop:
 * start it (orm__pg_cancel_send), then poll its descriptor with the connection's and let
 * orm__pg_cancel_busy advance it (connect, write the 16-byte CancelRequest, read the
 * postmaster's close: acknowledged).
 *
 * The cancel key: libpq keeps it inside the opaque PGcancel. Its layout (the server
 * address, then the backend pid, then the key) has been the same from 9.x to 16; it is read
 * only from libpq < 17 and when the pid found there equals PQbackendPID, else each request is
 * libpq's own PQcancel run on a short-lived detached thread (at most a few at once), so the
 * caller still never waits for it.
 *
 * Thread safety: one orm_pg_cancel belongs to its connection's thread. The fallback threads
 * share nothing with the caller but a reference-counted request.
 */
#ifndef ORM_PG_CANCEL_H
#define ORM_PG_CANCEL_H

#include <stdint.h>
#include <sys/socket.h>

#include <libpq-fe.h>

typedef struct pg_cancel_thread pg_cancel_thread;

typedef struct orm_pg_cancel {
    struct sockaddr_storage addr; /* the postmaster's address */
    socklen_t addrlen;
    uint32_t pid, key;
    int have_key;                 /* 0: requests go through the fallback thread */
    PGconn *pg;                   /* the fallback asks it for a PGcancel per request */
    int fd;                       /* the request in flight, -1: none */
    int written;                  /* its packet was written (now waiting for the close) */
    pg_cancel_thread *thr;        /* the fallback request in flight, or NULL */
    unsigned sent;                /* requests started on this connection (tests) */
} orm_pg_cancel;

/* Read what a cancel request needs from a connected pg. ORM_OK, or ORM_ENOMEM. */
int orm__pg_cancel_init(orm_pg_cancel *cn, PGconn *pg);
/* Forget a request in flight and free cn's resources (not cn itself). */
void orm__pg_cancel_free(orm_pg_cancel *cn);

/* Start a cancel request unless one is in flight already. Never blocks. ORM_OK when a
 * request is (now) in flight, else an ORM_E... code (no socket, too many threads). */
int orm__pg_cancel_send(orm_pg_cancel *cn);

/* Advance the request in flight without blocking. 1 while it is in flight, 0 when there is
 * none (the postmaster acknowledged it, or it failed: the caller may send another). */
int orm__pg_cancel_busy(orm_pg_cancel *cn);

/* The descriptor and poll events to wait on for the request in flight; -1 when there is
 * none to wait on (none in flight, or a fallback thread: poll with a short timeout). */
int orm__pg_cancel_pollfd(const orm_pg_cancel *cn, short *events);

/* Hand over a connection whose statement is still running (the caller gave up at its
 * deadline): a detached thread keeps cancelling it (again whenever a cancel was
 * acknowledged and the statement still runs) until it ends, then closes the connection.
 * It gives up after `limit_us` (the server never answered) and closes anyway. Takes
 * ownership of pg and of cn's contents. */
void orm__pg_cancel_reap(PGconn *pg, orm_pg_cancel *cn, int64_t limit_us);

/* Tests: requests that go astray. The next `n` requests started carry a wrong key, so the
 * postmaster ignores them (a lost cancel). */
void orm__pg_cancel_test_lose(unsigned n);
/* Tests: 1 makes connections opened from now on use the fallback thread. */
void orm__pg_cancel_test_force_thread(int on);
/* Reaper threads still running (tests wait for 0). */
int orm__pg_cancel_reapers(void);

#endif
