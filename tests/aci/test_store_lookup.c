/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The store test's lookups: resolving image IDs and finding images by name and labels. */
#include "test_store.h"

/* ---------------------------------------------------------------- 3. resolving IDs */

static void expect_resolve(aci_store *s, const char *id, int want, const char *want_key,
                           const char *msg_part)
{
        aci_image_record r = {.max_age = -1};
        capture_begin();
        int k = aci_store_resolve_id(s, id, &r);
        _cleanup_(freep) char *msg = capture_end();
        if (k != want || (msg_part && !strstr(msg, msg_part)) || (!msg_part && msg[0])) {
                fprintf(stderr, "resolve %s: %d (expected %d), message \"%s\"\n", id, k, want, msg);
                exit(EXIT_FAILURE);
        }
        if (want_key) {
                CHECK_STREQ(r.key, want_key);
                CHECK_EQ_INT(strncmp(r.id, want_key, ACI_KEY_SIZE - 1), 0);
                aci_image_record_done(&r);
        }
}

void test_resolve(void)
{
        _cleanup_(freep) char *dir = strf("%s/resolve", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        char x[ACI_ID_SIZE], y[ACI_ID_SIZE], z[ACI_ID_SIZE];
        char kx[ACI_KEY_SIZE], ky[ACI_KEY_SIZE], kz[ACI_KEY_SIZE];
        make_id(x, "abcd1", '1');
        make_id(y, "abcd2", '2');
        make_id(z, "ef", '3');
        aci_key_from_id(x, kx);
        aci_key_from_id(y, ky);
        aci_key_from_id(z, kz);
        add_image(s, x, "example.com/x", NULL, 0, NULL, 1, false, NULL);
        add_image(s, y, "example.com/y", NULL, 0, NULL, 2, false, NULL);
        add_image(s, z, "example.com/z", NULL, 0, NULL, 3, false, NULL);

        expect_resolve(s, x, 0, kx, NULL);
        expect_resolve(s, y, 0, ky, NULL);
        expect_resolve(s, kz, 0, kz, NULL);
        expect_resolve(s, "sha512-ef", 0, kz, NULL);
        expect_resolve(s, "sha512-abcd1", 0, kx, NULL);
        expect_resolve(s, "sha512-abcd2222", 0, ky, NULL);
        expect_resolve(s, "sha512-abcd", -ENOTUNIQ, NULL, "sha512-abcd: ambiguous image ID");
        expect_resolve(s, "sha512-ab", -ENOTUNIQ, NULL, "ambiguous");
        expect_resolve(s, "sha512-abcd3", -ENOENT, NULL, "sha512-abcd3: no such image");
        expect_resolve(s, "sha512-99", -ENOENT, NULL, "no such image");
        expect_resolve(s, "sha512-a", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha512-", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha256-abcd1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "abcd1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "sha512-ABCD1", -EINVAL, NULL, "not an image ID");
        expect_resolve(s, "example.com/x", -EINVAL, NULL, "not an image ID");

        /* The quiet variant answers the same, silently. */
        aci_image_record r;
        capture_begin();
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-99", &r), -ENOENT);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-abcd", &r), -ENOTUNIQ);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "nope", &r), -EINVAL);
        CHECK_EQ_INT(aci_store_resolve_id_quiet(s, "sha512-abcd1", &r), 0);
        _cleanup_(freep) char *msg = capture_end();
        CHECK_STREQ(msg, "");
        CHECK_STREQ(r.key, kx);
        CHECK_STREQ(r.name, "example.com/x");
        aci_image_record_done(&r);

        s = aci_store_free(s);
        remove_store(dir);
}

/* ---------------------------------------------------------------- 4. lookups */

static void expect_find(aci_store *s, const char *name, const aci_label *labels, size_t n, int want,
                        const char *want_key)
{
        aci_image_record r;
        int k = aci_store_find(s, name, labels, n, &r);
        if (k != want) {
                fprintf(stderr, "find %s (%zu labels): %d, expected %d\n", name, n, k, want);
                exit(EXIT_FAILURE);
        }
        if (k == 0) {
                if (strcmp(r.key, want_key) != 0) {
                        fprintf(stderr, "find %s (%zu labels): %s, expected %s\n", name, n, r.key,
                                want_key);
                        exit(EXIT_FAILURE);
                }
                CHECK_STREQ(r.name, name);
                aci_image_record_done(&r);
        }
}

void test_find(void)
{
        _cleanup_(freep) char *dir = strf("%s/find", root);
        _cleanup_(aci_store_freep) aci_store *s = NULL;
        CHECK_EQ_INT(aci_store_open(dir, &s), 0);
        const char *app = "example.com/app";
        const char *u1 = "https://example.com/app-latest.caidx";
        const char *u2 = "https://example.com/app-2.0.0.caidx";
        char p1[ACI_ID_SIZE], p2[ACI_ID_SIZE], p3[ACI_ID_SIZE], p4[ACI_ID_SIZE], o[ACI_ID_SIZE];
        char k1[ACI_KEY_SIZE], k2[ACI_KEY_SIZE], k3[ACI_KEY_SIZE], k4[ACI_KEY_SIZE];
        make_id(p1, "01", 'a');
        make_id(p2, "02", 'b');
        make_id(p3, "03", 'c');
        make_id(p4, "04", 'd');
        make_id(o, "05", 'e');
        aci_key_from_id(p1, k1);
        aci_key_from_id(p2, k2);
        aci_key_from_id(p3, k3);
        aci_key_from_id(p4, k4);
        const aci_label l1[] = {{"version", "1.0.0"}, {"os", "linux"}, {"arch", "amd64"}};
        const aci_label l2[] = {{"version", "2.0.0"}, {"os", "linux"}, {"arch", "amd64"}};
        const aci_label l3[] = {{"version", "2.0.0"}, {"os", "linux"}, {"arch", "aarch64"}};
        const aci_label l4[] = {{"version", "3.0.0"}, {"os", "freebsd"}, {"arch", "amd64"}};
        /* p1: fetched as latest long ago; p2, p3: 2.0.0, newer; p4: another OS, newest. */
        add_image(s, p1, app, l1, 3, NULL, 100, true, u1);
        add_image(s, p2, app, l2, 3, NULL, 200, false, u2);
        add_image(s, p3, app, l3, 3, NULL, 150, true, u1);
        add_image(s, p4, app, l4, 3, NULL, 400, false, NULL);
        /* Same labels, another name, newest of all and latest. */
        add_image(s, o, "example.com/app2", l2, 3, NULL, 999, true, u2);

        const aci_label linux_amd64[] = {{"os", "linux"}, {"arch", "amd64"}};
        const aci_label v2[] = {{"version", "2.0.0"}};
        const aci_label v2_arm[] = {{"version", "2.0.0"}, {"arch", "aarch64"}};
        const aci_label v1[] = {{"version", "1.0.0"}};
        const aci_label arm[] = {{"arch", "aarch64"}};
        const aci_label freebsd[] = {{"os", "freebsd"}};
        const aci_label darwin[] = {{"os", "darwin"}};
        const aci_label other[] = {{"os", "linux"}, {"libc", "musl"}};
        const aci_label v2_bad[] = {{"version", "2.0.0"}, {"os", "freebsd"}};

        /* No version asked: latest ones first (p1, p3), the most recent of those (p3). */
        expect_find(s, app, NULL, 0, 0, k3);
        /* linux/amd64: p1 (latest, 100) beats p2 (newer, not latest). */
        expect_find(s, app, linux_amd64, 2, 0, k1);
        /* arm64: only p3. freebsd: only p4 (not latest, but the only match). */
        expect_find(s, app, arm, 1, 0, k3);
        expect_find(s, app, freebsd, 1, 0, k4);
        /* A version asked: the most recently fetched wins, latest or not (p2 200 > p3 150). */
        expect_find(s, app, v2, 1, 0, k2);
        expect_find(s, app, v2_arm, 2, 0, k3);
        expect_find(s, app, v1, 1, 0, k1);
        /* Every label must match; a label the image lacks is a mismatch. */
        expect_find(s, app, darwin, 1, -ENOENT, NULL);
        expect_find(s, app, other, 2, -ENOENT, NULL);
        expect_find(s, app, v2_bad, 2, -ENOENT, NULL);
        expect_find(s, "example.com/none", NULL, 0, -ENOENT, NULL);
        expect_find(s, "example.com", NULL, 0, -ENOENT, NULL);

        /* By URL: the most recently fetched from it. */
        aci_image_record r;
        CHECK_EQ_INT(aci_store_find_by_url(s, u1, &r), 0);
        CHECK_STREQ(r.key, k3);
        CHECK_STREQ(r.index_url, u1);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, u2, &r), 0);
        CHECK_STREQ(r.id, o);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, "https://example.com/none.caidx", &r), -ENOENT);
        CHECK_EQ_INT(aci_store_find_by_url(s, "", &r), -ENOENT);

        /* A revalidation of p1 makes it the most recent for u1. */
        CHECK_EQ_INT(aci_store_get(s, k1, &r), 0);
        r.fetched = 500;
        CHECK_EQ_INT(aci_store_update_record(s, &r), 0);
        aci_image_record_done(&r);
        CHECK_EQ_INT(aci_store_find_by_url(s, u1, &r), 0);
        CHECK_STREQ(r.key, k1);
        aci_image_record_done(&r);
        expect_find(s, app, NULL, 0, 0, k1);

        s = aci_store_free(s);
        remove_store(dir);
}
