/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Getting written data to disk before it has to be there, so that the sync that makes it
 * durable finds little left to do.
 *
 * Early writeback: while a download is the bound, a thread flushes the file system (syncfs)
 * every period in which the machine's CPUs were idle at least half of the time, by /proc/stat.
 * The kernel's own writeback waits 30 s for dirty data to expire, so without it a fetch shorter
 * than that writes all of its tree at its final sync, after the last byte came; when the CPUs
 * are busy (a fast link), writeback would slow the work that is the bound, so it does nothing.
 * It changes no durability guarantee: whoever needs data on disk still syncs. It never fails
 * anything: an error is logged at debug level and the thread stops trying.
 *
 * A sync in a thread: syncfs(fd) runs while the caller does something else, e.g. walks what it
 * has just written.
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct ca_writeback ca_writeback;

typedef enum ca_writeback_idle {
        CA_WRITEBACK_MEASURE = 0, /* idle by /proc/stat */
        CA_WRITEBACK_ALWAYS,      /* every period counts as idle (tests) */
        CA_WRITEBACK_NEVER,       /* every period counts as busy (tests) */
} ca_writeback_idle;

typedef struct ca_writeback_options {
        unsigned period_ms; /* 0: 250 */
        ca_writeback_idle idle;
} ca_writeback_options;

typedef struct ca_writeback_stats {
        uint64_t periods; /* periods looked at */
        uint64_t syncs;   /* of them, the ones that synced */
} ca_writeback_stats;

/*
 * Starts early writeback of the file system dir_fd is on (the fd is duplicated). o may be NULL.
 * Returns 0 or a negative errno (logged at debug level: the caller goes on without it).
 */
int ca_writeback_start(int dir_fd, const ca_writeback_options *o, ca_writeback **ret);
void ca_writeback_get_stats(ca_writeback *w, ca_writeback_stats *ret);
/* Stops the thread without waiting out its period (a sync under way completes) and frees w.
 * NULL is fine. Returns NULL. */
ca_writeback *ca_writeback_stop(ca_writeback *w);

typedef struct ca_sync_job {
        int fd;
        int result;
        bool threaded;
        pthread_t thread;
} ca_sync_job;

/* Starts syncfs(fd) in a thread (in this one if no thread can be made); fd must stay open until
 * ca_sync_end. */
void ca_sync_begin(ca_sync_job *j, int fd);
/* Waits for it: 0 or syncfs's negative errno (not logged). */
int ca_sync_end(ca_sync_job *j);
