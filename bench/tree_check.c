/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Benchmark: what the check before a fetch hands out a stored tree costs (aci_tree_digest over
 * lstat data, as aci_tree_record_check walks it), on any directory, warm cache.
 *   build/bench/tree_check DIR [RUNS]   prints entries, the wall time's median, min and max,
 *                                       and the median CPU time (user and system) in ms
 * Also the content digest (verify's walk, which reads every file) for comparison.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "aci/aci.h"

static int cmp_double(const void *a, const void *b)
{
        double x = *(const double *)a, y = *(const double *)b;
        return x < y ? -1 : x > y;
}

static double now_ms(clockid_t clock)
{
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int run(int fd, bool content, int runs)
{
        double *t = calloc((size_t)runs, sizeof(*t)), *cpu = calloc((size_t)runs, sizeof(*cpu));
        if (!t || !cpu)
                return 1;
        uint64_t entries = 0;
        for (int i = 0; i < runs; i++) {
                uint8_t d[ACI_TREE_DIGEST_SIZE];
                double start = now_ms(CLOCK_MONOTONIC),
                       cpu_start = now_ms(CLOCK_PROCESS_CPUTIME_ID);
                int r = aci_tree_digest(fd, content, d, &entries);
                t[i] = now_ms(CLOCK_MONOTONIC) - start;
                cpu[i] = now_ms(CLOCK_PROCESS_CPUTIME_ID) - cpu_start;
                if (r < 0) {
                        fprintf(stderr, "aci_tree_digest: %d\n", r);
                        free(t);
                        free(cpu);
                        return 1;
                }
        }
        qsort(t, (size_t)runs, sizeof(*t), cmp_double);
        qsort(cpu, (size_t)runs, sizeof(*cpu), cmp_double);
        printf("%s digest: %llu entries, wall median %.2f ms (min %.2f, max %.2f), cpu median "
               "%.2f ms, %d runs\n",
               content ? "content" : "stat", (unsigned long long)entries, t[runs / 2], t[0],
               t[runs - 1], cpu[runs / 2], runs);
        free(t);
        free(cpu);
        return 0;
}

int main(int argc, char **argv)
{
        if (argc < 2 || argc > 3) {
                fprintf(stderr, "usage: %s DIR [RUNS]\n", argv[0]);
                return 2;
        }
        int runs = argc == 3 ? atoi(argv[2]) : 11;
        int fd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0 || runs < 1) {
                perror(argv[1]);
                return 1;
        }
        return run(fd, false, runs) || run(fd, true, runs);
}
