/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Access profiles (aci/profile.c), as a mount reads the store's or a published one: parsed with
 * the product's caps; a valid one must hold at most ACI_PROFILE_CHUNKS_MAX chunks and only
 * relative paths without empty, "." or ".." components within the bounds, and format to text
 * that parses to the same profile. Its ranges
 * are then recorded again as a mount records reads (aci_profile_add_range), which must keep them
 * within the bounds and never leave two ranges of a file touching.
 */
#include "aci/aci.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static void check_path(const char *p)
{
        size_t n = strlen(p);
        FUZZ_ASSERT(n > 0 && n <= ACI_PROFILE_PATH_MAX && p[0] != '/');
        for (const char *c = p;;) {
                size_t l = strcspn(c, "/");
                FUZZ_ASSERT(l > 0 && l <= 255);
                FUZZ_ASSERT(!(l == 1 && c[0] == '.') && !(l == 2 && c[0] == '.' && c[1] == '.'));
                if (!c[l])
                        break;
                c += l + 1;
        }
}

static void check_ranges(const aci_profile_file *f, bool disjoint)
{
        FUZZ_ASSERT(f->n_ranges <= ACI_PROFILE_RANGES_MAX);
        for (unsigned i = 0; i < f->n_ranges; i++) {
                const aci_profile_range *g = &f->ranges[i];
                FUZZ_ASSERT(g->length > 0 && g->offset < ACI_PROFILE_BYTES_MAX);
                FUZZ_ASSERT(g->length <= ACI_PROFILE_BYTES_MAX - g->offset);
                for (unsigned j = 0; disjoint && j < i; j++) {
                        const aci_profile_range *h = &f->ranges[j];
                        FUZZ_ASSERT(g->offset > h->offset + h->length ||
                                    h->offset > g->offset + g->length);
                }
        }
}

static void check_same(const aci_profile *a, const aci_profile *b)
{
        size_t j = 0;
        for (size_t i = 0; i < a->n; i++) {
                if (a->files[i].n_ranges == 0)
                        continue; /* formatting leaves these out */
                FUZZ_ASSERT(j < b->n);
                const aci_profile_file *x = &a->files[i], *y = &b->files[j++];
                FUZZ_ASSERT(strcmp(x->path, y->path) == 0 && x->n_ranges == y->n_ranges);
                FUZZ_ASSERT(memcmp(x->ranges, y->ranges, x->n_ranges * sizeof(x->ranges[0])) == 0);
        }
        FUZZ_ASSERT(j == b->n);
        FUZZ_ASSERT(a->n_chunks == b->n_chunks);
        FUZZ_ASSERT(a->n_chunks == 0 ||
                    memcmp(a->chunks, b->chunks, a->n_chunks * sizeof(a->chunks[0])) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        aci_profile p = {}, again = {}, recorded = {};
        if (aci_profile_parse(data, size, "fuzz", CA_LOG_WARNING, &p) < 0)
                return 0;
        FUZZ_ASSERT(p.n <= ACI_PROFILE_FILES_MAX && p.n_chunks <= ACI_PROFILE_CHUNKS_MAX);
        for (size_t i = 0; i < p.n; i++) {
                check_path(p.files[i].path);
                check_ranges(&p.files[i], false);
        }
        char *text = NULL;
        size_t text_size = 0;
        if (aci_profile_format(&p, &text, &text_size) >= 0) {
                /* The writer escapes only what it must; version 1 lines gain "file ". */
                FUZZ_ASSERT(text_size <= size + 5 * p.n);
                FUZZ_ASSERT(aci_profile_parse(text, text_size, "fuzz (formatted)", CA_LOG_ERR,
                                              &again) >= 0);
                check_same(&p, &again);
        }
        for (size_t i = 0; i < p.n; i++) {
                size_t k;
                if (aci_profile_add_file(&recorded, p.files[i].path, &k) < 0)
                        break;
                for (unsigned j = 0; j < p.files[i].n_ranges; j++)
                        (void)aci_profile_add_range(&recorded.files[k], p.files[i].ranges[j].offset,
                                                    p.files[i].ranges[j].length);
                check_ranges(&recorded.files[k], true);
        }
        free(text);
        aci_profile_done(&p);
        aci_profile_done(&again);
        aci_profile_done(&recorded);
        return 0;
}
