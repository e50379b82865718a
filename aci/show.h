/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to aci/: quoting input strings in messages. */
#pragma once

/* A message-safe copy of an input string: at most 64 bytes, non-printables as '?'. */
typedef struct aci_shown {
        char s[72];
} aci_shown;

aci_shown aci_show(const char *in);
#define SHOW(x) (aci_show(x).s)
