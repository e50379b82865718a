/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Quoting input strings in messages: bounded, so a hostile manifest cannot flood the log. */
#include <string.h>

#include "aci/show.h"

aci_shown aci_show(const char *in)
{
        aci_shown r;
        size_t i = 0;
        for (; in[i] && i < 64; i++)
                r.s[i] = (in[i] >= 0x20 && in[i] < 0x7f) ? in[i] : '?';
        if (in[i])
                memcpy(r.s + i, "...", 4);
        else
                r.s[i] = '\0';
        return r;
}
