/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's side of registry authentication (registry_auth.c): the tokens it got from
 * registries' token services, shared by every thread of one engine. transfer.c calls these from
 * the caller's threads (submit and finish), never from the engine thread, which must not wait
 * for a token.
 */
#pragma once

#include "fetcher/transfer/transfer.h"

typedef struct registry_auth registry_auth;

/* For engine e (its requests fetch the tokens); auth may be NULL. allow_http: a token service
 * may be plain http (--insecure-options=http; it never gets credentials). */
int registry_auth_new(transfer_engine *e, const auth_config *auth, bool allow_http,
                      registry_auth **ret);
void registry_auth_free(registry_auth *ra);

/*
 * The "Authorization: ..." line a TRANSFER_REGISTRY request to url sends at once, malloc'ed
 * into *ret (NULL: none yet): the newest valid token for its host and repository, or the
 * registry's credentials when the host asked for Basic. A token near its end is renewed here
 * first, by one thread while the others go on with it. *ret_credentials: whether it carries or
 * came from auth.d credentials (for the words of a refusal).
 */
int registry_auth_header(registry_auth *ra, const char *url, char **ret, bool *ret_credentials);

/*
 * A TRANSFER_REGISTRY request to url got 401 with the WWW-Authenticate value challenge, having
 * sent the Authorization line sent (NULL: none). The line to send it again with, malloc'ed into
 * *ret: a token for the challenge's scope (one fetch for all the threads that need it), or the
 * credentials for Basic. -ENOKEY when there is nothing better to send (no credentials, or they
 * were what was refused): the caller reports the 401. Other errors are logged here.
 */
int registry_auth_answer(registry_auth *ra, const char *url, const char *challenge,
                         const char *sent, char **ret, bool *ret_credentials);

/* Frees an Authorization line, wiping it first. */
void registry_auth_header_free(char *h);
