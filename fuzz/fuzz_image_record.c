/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The image store's records (images/<key>/image.json), as every command that looks an image up
 * reads them: the input is written as one image's record in a private store, read with
 * aci_store_get, and, when valid, written back and read again, which must give the same record;
 * then the lookup by name and labels runs over it.
 */
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "aci/aci.h"
#include "casync/fs_safe.h"
#include "fuzz/fuzz.h"

/* The key fuzz/make-corpus.sh's records use: their "id" starts with these 64 digits. */
#define KEY "sha512-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static aci_store *store;
static char file[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        char dir[160];
        snprintf(dir, sizeof(dir), "%s/store", fuzz_tmpdir());
        if (aci_store_open(dir, &store) < 0)
                abort();
        snprintf(file, sizeof(file), "%s/images/" KEY, dir);
        if (fs_mkdir_parents(file, 0700) < 0)
                abort();
        strcat(file, "/image.json");
        return 0;
}

static bool same(const char *a, const char *b)
{
        return a == b || (a && b && strcmp(a, b) == 0);
}

static void check_same(const aci_image_record *a, const aci_image_record *b)
{
        FUZZ_ASSERT(strcmp(a->id, b->id) == 0 && strcmp(a->key, b->key) == 0);
        FUZZ_ASSERT(same(a->name, b->name) && same(a->index_url, b->index_url));
        FUZZ_ASSERT(same(a->etag, b->etag) && same(a->signer, b->signer));
        FUZZ_ASSERT(same(a->signer_fingerprint, b->signer_fingerprint));
        FUZZ_ASSERT(a->max_age == b->max_age && a->fetched == b->fetched);
        FUZZ_ASSERT(a->fetched_nsec == b->fetched_nsec && a->size == b->size);
        FUZZ_ASSERT(a->latest == b->latest && strcmp(a->index_digest, b->index_digest) == 0);
        FUZZ_ASSERT(a->n_labels == b->n_labels);
        for (size_t i = 0; i < a->n_labels; i++)
                FUZZ_ASSERT(same(a->labels[i].name, b->labels[i].name) &&
                            same(a->labels[i].value, b->labels[i].value));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(closep) int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || write_full(fd, data, size) < 0)
                abort();
        aci_image_record r, again;
        if (aci_store_get(store, KEY, &r) < 0)
                return 0;
        FUZZ_ASSERT(strcmp(r.key, KEY) == 0);
        if (aci_store_update_record(store, &r) == 0) {
                FUZZ_ASSERT(aci_store_get(store, KEY, &again) == 0);
                check_same(&r, &again);
                aci_image_record_done(&again);
        }
        aci_image_record found;
        if (aci_store_find(store, r.name, r.labels, r.n_labels, &found) == 0)
                aci_image_record_done(&found);
        aci_image_record_done(&r);
        return 0;
}
