/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* For the test drivers: feed a file to a decoder in pieces of a chosen size, then finish. */
#pragma once

#include "casync/casync.h"

/* chunk == 0: pass each read whole. */
static inline int feed_all(ca_decoder *d, int fd, size_t chunk)
{
        static uint8_t buf[1 << 20];
        for (;;) {
                ssize_t n = read(fd, buf, sizeof(buf));
                if (n < 0)
                        return negative_errno();
                if (n == 0)
                        return ca_decoder_finish(d);
                for (size_t o = 0; o < (size_t)n;) {
                        size_t k = chunk ? MIN(chunk, (size_t)n - o) : (size_t)n - o;
                        int r = ca_decoder_feed(d, buf + o, k);
                        if (r < 0)
                                return r;
                        o += k;
                }
        }
}
