/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How many requests one origin (scheme, host, port) gets in flight: a limit that follows the
 * link's bandwidth-delay product. It doubles while throughput keeps rising (slow start), then
 * grows by a quarter whenever throughput still rises and shrinks when it falls. Responses
 * slower than the fastest ones measured mean requests wait in a queue (the link's buffer, the
 * server's CPU): the limit does not grow while more than a few wait, and shrinks while many
 * do, since waiting requests add no throughput and a full buffer drops packets; an
 * error halves it; a server that refuses for load (429, 503) teaches a ceiling, the number it
 * admitted, which the limit never passes again. Private to libtransfer; the engine thread is
 * its only user, so there is no locking.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>

/* Where an adaptive limit starts: low, so that a server admitting only a few requests at once
 * sees at most that many refusals while the limit doubles past it. */
#define CONCURRENCY_START 4

typedef struct concurrency {
        unsigned limit;   /* requests that may be in flight now */
        unsigned ceiling; /* the cap, or what an overloaded server admitted */
        bool fixed;       /* --jobs: never adapts */
        bool slow_start;
        bool grew; /* the last step raised the limit (else the rates compare equal limits) */
        bool held; /* slow start held the limit once for a measure that did not rise */

        /* The interval being measured: what requests started under the current limit (its
         * epoch) delivered decides the next step; those started before would measure the old
         * limit. */
        unsigned epoch;
        uint64_t interval_start; /* ns, CLOCK_MONOTONIC; 0: none yet */
        uint64_t interval_bytes;
        uint64_t interval_latency; /* ns, summed over its responses */
        unsigned interval_done;
        unsigned interval_peak; /* most requests in flight during it */
        bool interval_failed;   /* an error already cut the limit in this interval */
        double last_rate;       /* bytes/s of the last full interval, 0: none yet */
        /* The lowest mean response time of an interval: what a response takes without
         * waiting in a queue. */
        uint64_t base_latency; /* ns, 0: none yet */
        uint64_t latency;      /* ns, smoothed duration of a successful attempt */

        /* The most requests in flight when one that then succeeded started: the server took at
         * least that many at once. The limit never grows past twice it, so one step past what a
         * server admits costs at most as many refusals as it admits. */
        unsigned proven;
        unsigned peak;      /* most requests ever in flight, for --debug */
        unsigned overloads; /* refusals for load seen */
} concurrency;

/* fixed: limit stays at cap. Otherwise it starts at MIN(CONCURRENCY_START, cap). */
void concurrency_init(concurrency *c, unsigned cap, bool fixed);
/* true while one more request may start with `running` in flight. */
bool concurrency_admits(const concurrency *c, unsigned running);
/* A request started; running counts it. Returns the epoch to give concurrency_delivered. */
unsigned concurrency_started(concurrency *c, uint64_t now, unsigned running);
/* An attempt started in `epoch` with `started_with` in flight (itself included) delivered
 * `bytes` (a whole response) after `latency` ns. */
void concurrency_delivered(concurrency *c, uint64_t now, uint64_t bytes, uint64_t latency,
                           unsigned epoch, unsigned started_with);
/* The server refused an attempt for load (429, 503) that started with `running` in flight, itself
 * included: it admits fewer than that. */
void concurrency_overloaded(concurrency *c, unsigned running);
/* An attempt failed otherwise (connection lost or refused, timeout, another 5xx). */
void concurrency_failed(concurrency *c);
