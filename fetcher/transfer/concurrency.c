/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The adaptive request limit of one origin (see concurrency.h). The throughput a limit gives is
 * measured by Little's law on the requests started under it: limit x bytes per response / time
 * per response, over at least half a limit's worth of responses. Counting bytes per wall-clock
 * interval instead mixes in requests of the previous limit and depends on where the interval is
 * cut; response times are the link's own answer (they grow when the link is full).
 */
#include "fetcher/transfer/concurrency.h"

#include "casync/util.h"

/* Shortest interval, whatever the latency: on loopback a response takes microseconds. */
#define INTERVAL_MIN_NS (UINT64_C(10) * 1000000)
/* Throughput must rise by this factor for the limit to keep growing ... */
#define RISE_SLOW_START 1.20
#define RISE            1.10
/* ... and fall under this one for it to shrink (chunk sizes vary: some noise is normal). */
#define FALL 0.6
/* Requests that may wait in a queue (Little's law on the extra response time: limit x (1 -
 * base / mean)) before the limit stops growing: at least this many, or an eighth of it; twice
 * that and it shrinks. Some must wait so the link never idles between responses. */
#define QUEUED_MIN 8
/* Responses an interval needs for its mean to set the base response time. */
#define BASE_RESPONSES_MIN 4

void concurrency_init(concurrency *c, unsigned cap, bool fixed)
{
        cap = MAX(cap, 1U);
        *c = (concurrency){
            .limit = fixed ? cap : MIN((unsigned)CONCURRENCY_START, cap),
            .ceiling = cap,
            .fixed = fixed,
            .slow_start = !fixed,
        };
}

bool concurrency_admits(const concurrency *c, unsigned running)
{
        return running < c->limit;
}

static void interval_restart(concurrency *c, uint64_t now, unsigned running)
{
        c->interval_start = now;
        c->interval_bytes = 0;
        c->interval_latency = 0;
        c->interval_done = 0;
        c->interval_peak = running;
        c->interval_failed = false;
}

unsigned concurrency_started(concurrency *c, uint64_t now, unsigned running)
{
        if (c->interval_start == 0)
                interval_restart(c, now, running);
        c->interval_peak = MAX(c->interval_peak, running);
        c->peak = MAX(c->peak, running);
        return c->epoch;
}

/* The limit changed: a new epoch, measured from its first request. */
static void set_limit(concurrency *c, unsigned limit)
{
        limit = MIN(limit, MAX(2 * c->proven, (unsigned)CONCURRENCY_START));
        limit = MAX(MIN(limit, c->ceiling), 1U);
        if (limit == c->limit)
                return;
        c->limit = limit;
        c->epoch++;
        c->interval_start = 0;
}

/* The step after an interval that kept the limit busy and delivered `rate` bytes/s, with
 * `queued` requests estimated waiting. */
static void adapt(concurrency *c, double rate, double last, double queued)
{
        unsigned limit = c->limit;
        double allowed = MAX((double)QUEUED_MIN, (double)limit / 8);
        if (queued > 2 * allowed) {
                c->slow_start = false;
                limit -= MAX(limit / 8, 1U);
        } else if (queued > allowed) {
                c->slow_start = false; /* enough wait already: hold */
        } else if (c->slow_start) {
                /* A doubling held back (by what the server has shown it takes) is no evidence
                 * that more would not help: slow start ends only on a doubling that bought
                 * nothing. */
                bool rose = last == 0 || rate > last * RISE_SLOW_START;
                if (rose || (!c->grew && !c->held)) {
                        limit = limit * 2;
                        c->held = false;
                } else if (!c->held) {
                        /* One measure that did not rise may be noise (the first requests on
                         * new connections wait for them): this limit is measured again. */
                        c->held = true;
                } else {
                        c->slow_start = false; /* measured twice, nothing bought: hold */
                }
        } else if (rate > last * RISE) {
                limit += MAX(limit / 4, 1U);
        } else if (rate < last * FALL) {
                limit -= limit / 4;
        }
        unsigned before = c->limit;
        set_limit(c, limit);
        c->grew = c->limit > before;
}

void concurrency_delivered(concurrency *c, uint64_t now, uint64_t bytes, uint64_t latency,
                           unsigned epoch, unsigned started_with)
{
        c->latency = c->latency ? (c->latency * 7 + latency) / 8 : latency;
        c->proven = MAX(c->proven, started_with);
        if (c->fixed || c->interval_start == 0 || epoch != c->epoch)
                return;
        c->interval_bytes += bytes;
        c->interval_latency += MAX(latency, UINT64_C(1));
        c->interval_done++;
        uint64_t elapsed = now > c->interval_start ? now - c->interval_start : 0;
        if (elapsed < INTERVAL_MIN_NS || c->interval_done < MAX(c->limit / 2, 2U))
                return;
        double rate =
            (double)c->limit * (double)c->interval_bytes * 1e9 / (double)c->interval_latency;
        uint64_t mean = c->interval_latency / c->interval_done;
        /* A mean of a few responses is too noisy to set the base by. */
        if (c->interval_done >= BASE_RESPONSES_MIN &&
            (c->base_latency == 0 || mean < c->base_latency))
                c->base_latency = mean;
        double queued =
            c->base_latency ? (double)c->limit * (1.0 - (double)c->base_latency / (double)mean) : 0;
        /* An interval the workers did not fill says nothing about a higher limit. */
        bool busy = c->interval_peak >= c->limit;
        interval_restart(c, now, 0);
        if (busy) {
                double last = c->last_rate;
                c->last_rate = rate;
                adapt(c, rate, last, queued);
        }
}

void concurrency_overloaded(concurrency *c, unsigned running)
{
        c->overloads++;
        if (c->fixed)
                return;
        /* This one was refused when it joined running - 1 others: the server admits at most
         * running - 1 at once. The refusals of one overshoot started at every count past what the
         * server admits, so the lowest settles the ceiling on that, and the limit does not probe
         * past it again. */
        c->ceiling = MAX(MIN(c->ceiling, running > 0 ? running - 1 : 1), 1U);
        c->slow_start = false;
        c->last_rate = 0;
        set_limit(c, c->limit);
}

void concurrency_failed(concurrency *c)
{
        if (c->fixed || c->interval_failed)
                return;
        /* Once per interval: a dropped connection fails all its requests at once. */
        c->interval_failed = true;
        c->slow_start = false;
        set_limit(c, c->limit / 2);
}
