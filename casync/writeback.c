/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Early writeback and a sync in a thread (see writeback.h).
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "casync/casync.h"
#include "casync/writeback.h"

#define PERIOD_MS_DEFAULT 250

struct ca_writeback {
        int fd;
        unsigned period_ms;
        ca_writeback_idle idle;
        pthread_t thread;
        pthread_mutex_t lock;
        pthread_condattr_t cond_attr; /* the period counts in monotonic time */
        pthread_cond_t cond;
        bool stop;                /* under lock */
        ca_writeback_stats stats; /* under lock */
};

typedef struct cpu_times {
        uint64_t idle, total; /* clock ticks since boot, all CPUs */
} cpu_times;

/* The "cpu" line of /proc/stat: user nice system idle iowait irq softirq steal (guest time is
 * counted in user already). Waiting for I/O counts as idle: the CPU could run something. */
static int read_cpu_times(cpu_times *ret)
{
        char buf[512];
        int fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        ssize_t n = read(fd, buf, sizeof(buf) - 1);
        int r = n < 0 ? negative_errno() : 0;
        close(fd);
        if (r < 0)
                return r;
        buf[n] = 0;
        unsigned long long v[8] = {};
        int k = sscanf(buf, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                       &v[3], &v[4], &v[5], &v[6], &v[7]);
        if (k < 4)
                return -EBADMSG;
        *ret = (cpu_times){.idle = v[3] + v[4]};
        for (int i = 0; i < 8; i++)
                ret->total += v[i];
        return 0;
}

/* Whether the CPUs were idle at least half of the time since *prev (which becomes now). */
static int period_idle(ca_writeback *w, cpu_times *prev, bool *ret)
{
        if (w->idle != CA_WRITEBACK_MEASURE) {
                *ret = w->idle == CA_WRITEBACK_ALWAYS;
                return 0;
        }
        cpu_times now;
        int r = read_cpu_times(&now);
        if (r < 0)
                return r;
        uint64_t idle = now.idle - prev->idle, total = now.total - prev->total;
        *ret = total > 0 && idle * 2 >= total;
        *prev = now;
        return 0;
}

static void deadline(struct timespec *ts, unsigned ms)
{
        clock_gettime(CLOCK_MONOTONIC, ts);
        ts->tv_sec += ms / 1000;
        ts->tv_nsec += (long)(ms % 1000) * 1000 * 1000;
        if (ts->tv_nsec >= 1000000000) {
                ts->tv_sec++;
                ts->tv_nsec -= 1000000000;
        }
}

static void *writeback_thread(void *userdata)
{
        ca_writeback *w = userdata;
        cpu_times prev = {};
        int r = w->idle == CA_WRITEBACK_MEASURE ? read_cpu_times(&prev) : 0;
        if (r < 0)
                ca_log_debug("early writeback: /proc/stat: %s", strerror(-r));

        pthread_mutex_lock(&w->lock);
        while (r >= 0 && !w->stop) {
                struct timespec ts;
                deadline(&ts, w->period_ms);
                while (!w->stop && pthread_cond_timedwait(&w->cond, &w->lock, &ts) != ETIMEDOUT)
                        ;
                if (w->stop)
                        break;
                pthread_mutex_unlock(&w->lock);
                bool idle = false;
                r = period_idle(w, &prev, &idle);
                if (r < 0)
                        ca_log_debug("early writeback: /proc/stat: %s", strerror(-r));
                else if (idle && syncfs(w->fd) < 0) {
                        r = negative_errno();
                        ca_log_debug("early writeback: sync: %s", strerror(-r));
                }
                pthread_mutex_lock(&w->lock);
                w->stats.periods++;
                if (r >= 0 && idle)
                        w->stats.syncs++;
        }
        pthread_mutex_unlock(&w->lock);
        return NULL;
}

static void writeback_free(ca_writeback *w)
{
        pthread_cond_destroy(&w->cond);
        pthread_condattr_destroy(&w->cond_attr);
        pthread_mutex_destroy(&w->lock);
        if (w->fd >= 0)
                close(w->fd);
        free(w);
}

int ca_writeback_start(int dir_fd, const ca_writeback_options *o, ca_writeback **ret)
{
        ca_writeback *w = calloc(1, sizeof(*w));
        if (!w)
                return ca_log_errno(CA_LOG_DEBUG, -ENOMEM, "early writeback: %s", strerror(ENOMEM));
        w->period_ms = o && o->period_ms ? o->period_ms : PERIOD_MS_DEFAULT;
        w->idle = o ? o->idle : CA_WRITEBACK_MEASURE;
        pthread_mutex_init(&w->lock, NULL);
        pthread_condattr_init(&w->cond_attr);
        pthread_condattr_setclock(&w->cond_attr, CLOCK_MONOTONIC);
        pthread_cond_init(&w->cond, &w->cond_attr);
        w->fd = fcntl(dir_fd, F_DUPFD_CLOEXEC, 3);
        int r =
            w->fd < 0 ? negative_errno() : -pthread_create(&w->thread, NULL, writeback_thread, w);
        if (r < 0) {
                writeback_free(w);
                return ca_log_errno(CA_LOG_DEBUG, r, "early writeback: %s", strerror(-r));
        }
        *ret = w;
        return 0;
}

void ca_writeback_get_stats(ca_writeback *w, ca_writeback_stats *ret)
{
        pthread_mutex_lock(&w->lock);
        *ret = w->stats;
        pthread_mutex_unlock(&w->lock);
}

ca_writeback *ca_writeback_stop(ca_writeback *w)
{
        if (!w)
                return NULL;
        pthread_mutex_lock(&w->lock);
        w->stop = true;
        pthread_cond_signal(&w->cond);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        ca_log_debug("early writeback: synced in %" PRIu64 " of %" PRIu64 " periods",
                     w->stats.syncs, w->stats.periods);
        writeback_free(w);
        return NULL;
}

static void *sync_thread(void *userdata)
{
        ca_sync_job *j = userdata;
        j->result = syncfs(j->fd) < 0 ? negative_errno() : 0;
        return NULL;
}

void ca_sync_begin(ca_sync_job *j, int fd)
{
        *j = (ca_sync_job){.fd = fd};
        j->threaded = pthread_create(&j->thread, NULL, sync_thread, j) == 0;
        if (!j->threaded)
                sync_thread(j);
}

int ca_sync_end(ca_sync_job *j)
{
        if (j->threaded)
                pthread_join(j->thread, NULL);
        j->threaded = false;
        return j->result;
}
