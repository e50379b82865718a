/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The adaptive request limit (fetcher/transfer/concurrency.c) against simulated links, in
 * simulated time: requests of one size over a link with a round trip and a bandwidth shared by
 * those in flight, and a server that may admit only so many at once.
 */
#include <stdint.h>

#include "casync/util.h"
#include "fetcher/transfer/concurrency.h"
#include "tests/test.h"

#define MS            (UINT64_C(1000000))
#define CHUNK         (64u * 1024)
#define IN_FLIGHT_MAX 1024

typedef struct sim_link {
        uint64_t rtt;     /* ns */
        double bandwidth; /* bytes per second, 0: unlimited */
        unsigned admits;  /* the server refuses (429) over this many at once, 0: no limit */
        double jitter;    /* response times vary by up to this share either way */
} sim_link;

typedef struct sim {
        concurrency c;
        uint64_t now;
        uint64_t done_at[IN_FLIGHT_MAX];
        uint64_t took[IN_FLIGHT_MAX];
        unsigned epoch[IN_FLIGHT_MAX];
        bool refused[IN_FLIGHT_MAX];
        unsigned started_with[IN_FLIGHT_MAX];
        unsigned running;
        unsigned admitted; /* of those: not refused (what the server counts) */
        unsigned refusals;
        uint64_t delivered; /* requests */
        uint64_t seed;      /* of the jitter (a fixed sequence: the test must not flake) */
} sim;

/* A number in [-1, 1) from the simulation's own sequence. */
static double sim_random(sim *s)
{
        s->seed = s->seed * UINT64_C(6364136223846793005) + UINT64_C(1442695040888963407);
        return (double)(s->seed >> 11) / (double)(UINT64_C(1) << 52) - 1.0;
}

/* Starts requests while the limit admits them; each takes the round trip plus its share of the
 * bandwidth; a server over its admission answers at once (half a round trip). */
static void fill(sim *s, const sim_link *l)
{
        while (concurrency_admits(&s->c, s->running) && s->running < IN_FLIGHT_MAX) {
                unsigned i = s->running++;
                s->epoch[i] = concurrency_started(&s->c, s->now, s->running);
                s->refused[i] = l->admits && s->admitted >= l->admits;
                s->admitted += !s->refused[i];
                s->started_with[i] = s->running;
                uint64_t t = l->rtt;
                if (s->refused[i])
                        t = l->rtt / 2;
                else if (l->bandwidth > 0)
                        t += (uint64_t)((double)CHUNK *
                                        MIN(s->running, l->admits ? l->admits : s->running) /
                                        l->bandwidth * 1e9);
                t = (uint64_t)((double)t * (1.0 + l->jitter * sim_random(s)));
                s->done_at[i] = s->now + t;
                s->took[i] = t;
        }
}

/* Runs until `requests` were delivered; returns the limit then. */
static unsigned run(sim *s, const sim_link *l, uint64_t requests)
{
        while (s->delivered < requests) {
                fill(s, l);
                unsigned first = 0;
                for (unsigned i = 1; i < s->running; i++)
                        if (s->done_at[i] < s->done_at[first])
                                first = i;
                s->now = s->done_at[first];
                unsigned started_with = s->started_with[first];
                bool refused = s->refused[first];
                unsigned epoch = s->epoch[first];
                uint64_t took = s->took[first];
                /* the last one takes its place */
                s->running--;
                s->done_at[first] = s->done_at[s->running];
                s->epoch[first] = s->epoch[s->running];
                s->took[first] = s->took[s->running];
                s->refused[first] = s->refused[s->running];
                s->started_with[first] = s->started_with[s->running];
                s->admitted -= !refused;
                if (refused) {
                        s->refusals++;
                        concurrency_overloaded(&s->c, started_with);
                } else {
                        s->delivered++;
                        concurrency_delivered(&s->c, s->now, CHUNK, took, epoch, started_with);
                }
        }
        return s->c.limit;
}

static void test_grows_to_cap_on_a_long_round_trip(void)
{
        /* 50 ms, no bandwidth limit: every doubling doubles throughput. */
        sim s = {};
        sim_link l = {.rtt = 50 * MS};
        concurrency_init(&s.c, 128, false);
        CHECK_EQ_INT(s.c.limit, CONCURRENCY_START);
        while (s.c.limit < 128 && s.delivered < 3000)
                run(&s, &l, s.delivered + 1);
        fprintf(stderr, "long round trip: the cap after %.1f round trips\n",
                (double)s.now / (double)l.rtt);
        CHECK_EQ_INT(s.c.limit, 128);
        /* Slow start: five doublings (4 -> 128), about a round trip each. */
        CHECK(s.now <= 7 * l.rtt);
        CHECK_EQ_INT(run(&s, &l, 3000), 128);
        CHECK_EQ_INT(s.c.peak, 128);
        CHECK_EQ_INT(s.refusals, 0);
}

static void test_stops_near_the_bandwidth_delay_product(void)
{
        /* 20 ms and 100 Mbit/s: the product is 250 kB, four 64 KiB requests; far fewer than the
         * cap fill the sim_link. */
        sim s = {};
        sim_link l = {.rtt = 20 * MS, .bandwidth = 12.5e6};
        concurrency_init(&s.c, 128, false);
        unsigned limit = run(&s, &l, 5000);
        fprintf(stderr, "bandwidth-bound: limit %u, peak %u\n", limit, s.c.peak);
        CHECK(limit >= 4);
        CHECK(limit <= 32);
        CHECK_EQ_INT(s.refusals, 0);
}

static void test_does_not_fill_a_queue(void)
{
        /* The same link with response times that vary by a quarter either way: throughput
         * seems to rise now and then by chance, but the limit must not creep up to the cap
         * while requests only wait (in a real link's buffer, which drops packets when full). */
        sim s = {.seed = 1};
        sim_link l = {.rtt = 20 * MS, .bandwidth = 12.5e6, .jitter = 0.25};
        concurrency_init(&s.c, 128, false);
        unsigned limit = run(&s, &l, 20000), highest = 0;
        for (int i = 0; i < 20; i++)
                highest = MAX(highest, run(&s, &l, s.delivered + 1000));
        fprintf(stderr, "bandwidth-bound with jitter: limit %u, at most %u later, peak %u\n", limit,
                highest, s.c.peak);
        CHECK(limit >= 4);
        CHECK(highest <= 4 + 2 * 8 + 8);
}

static void test_refusals_teach_a_ceiling(void)
{
        for (unsigned admits = 4; admits <= 40; admits += 6) {
                sim s = {};
                sim_link l = {.rtt = 20 * MS, .admits = admits};
                concurrency_init(&s.c, 128, false);
                unsigned limit = run(&s, &l, 5000);
                fprintf(stderr, "server admitting %u: limit %u, %u refusals\n", admits, limit,
                        s.refusals);
                CHECK(s.refusals >= 1);
                CHECK(s.refusals <= admits);
                CHECK(limit <= admits);
                CHECK(s.c.ceiling <= admits);
        }
}

static void test_fixed_never_moves(void)
{
        sim s = {};
        sim_link l = {.rtt = 50 * MS, .admits = 2};
        concurrency_init(&s.c, 3, true);
        CHECK_EQ_INT(run(&s, &l, 500), 3);
        concurrency_failed(&s.c);
        CHECK_EQ_INT(s.c.limit, 3);
}

static void test_errors_halve_once_per_interval(void)
{
        concurrency c;
        concurrency_init(&c, 128, false);
        concurrency_started(&c, 1, 1);
        c.limit = c.proven = 64;
        concurrency_failed(&c);
        CHECK_EQ_INT(c.limit, 32);
        /* The same dropped connection fails its other requests too: one cut, not five. */
        for (int i = 0; i < 5; i++)
                concurrency_failed(&c);
        CHECK_EQ_INT(c.limit, 32);
        CHECK(!c.slow_start);
}

int main(void)
{
        test_grows_to_cap_on_a_long_round_trip();
        test_stops_near_the_bandwidth_delay_product();
        test_does_not_fill_a_queue();
        test_refusals_teach_a_ceiling();
        test_fixed_never_moves();
        test_errors_halve_once_per_interval();
        return 0;
}
