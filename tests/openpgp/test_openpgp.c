/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The OpenPGP verifier on its own:
 *  - known answers: keys and signatures GnuPG made (tests/openpgp/data, see make-fixtures.sh):
 *    fingerprints as gpg prints them, user IDs, signatures that verify (RSA-3072, ECDSA
 *    P-256, P-384 and P-521, Ed25519, a signing subkey; armored and binary; SHA-256/384/512)
 *    and those that must fail with their own error (other data, SHA-1, revoked key, expired
 *    key, expired signature, unknown key, empty, garbage, a second signature that fails);
 *  - an Ed25519 (algorithm 27) key and signature built here with OpenSSL, as gpg 2.2 cannot;
 *  - armor round trips, fingerprint display and parsing;
 *  - hostile input: every truncation, extreme byte values at every position (length fields
 *    among them) and thousands of random byte flips (fixed seed) of keys and signatures, each
 *    fed to the parser and verifier: errors, never a crash (run under ASan in build-asan).
 */
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "aci/openpgp/openpgp.h"
#include "aci/openpgp/internal.h"
#include "tests/test.h"

/* Verification time for the fixtures: after they were made, before any expires naturally. */
static int64_t now;

static char *data_path(const char *name)
{
        const char *src = getenv("SRCDIR");
        char *p = NULL;
        CHECK(asprintf(&p, "%s/tests/openpgp/data/%s", src ? src : ".", name) > 0);
        return p;
}

static uint8_t *slurp(const char *name, size_t *size)
{
        _cleanup_(freep) char *p = data_path(name);
        _cleanup_(closep) int fd = open(p, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "%s: %m\n", p);
                exit(EXIT_FAILURE);
        }
        struct stat st;
        CHECK(fstat(fd, &st) == 0);
        uint8_t *b = malloc((size_t)st.st_size + 1);
        CHECK(b);
        CHECK(read_full(fd, b, (size_t)st.st_size) == 0);
        b[st.st_size] = 0;
        *size = (size_t)st.st_size;
        return b;
}

static aci_pgp_key *load_key(const char *name)
{
        size_t size;
        _cleanup_(freep) uint8_t *b = slurp(name, &size);
        aci_pgp_key **keys = NULL;
        size_t n = 0;
        CHECK_EQ_INT(aci_pgp_keys_parse(b, size, name, &keys, &n), 0);
        CHECK_EQ_INT(n, 1);
        aci_pgp_key *k = keys[0];
        free(keys);
        return k;
}

/* The line "NAME FPR USER ID" of data/fingerprints. */
static void expected(const char *name, char fpr[41], char uid[256])
{
        size_t size;
        _cleanup_(freep) char *text = (char *)slurp("fingerprints", &size);
        for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
                size_t n = strcspn(line, " ");
                if (n != strlen(name) || strncmp(line, name, n) != 0)
                        continue;
                CHECK(strlen(line) >= n + 41);
                memcpy(fpr, line + n + 1, 40);
                fpr[40] = 0;
                snprintf(uid, 256, "%s", line[n + 41] ? line + n + 42 : "");
                return;
        }
        fprintf(stderr, "no fingerprint for %s\n", name);
        exit(EXIT_FAILURE);
}

static int verify(aci_pgp_key *key, const char *sig_name, const void *data, size_t size,
                  aci_pgp_signer *signer, aci_pgp_issuer *unknown)
{
        size_t sig_size;
        _cleanup_(freep) uint8_t *sig = slurp(sig_name, &sig_size);
        aci_pgp_key *keys[] = {key};
        aci_pgp_signer s;
        aci_pgp_issuer u;
        int r = aci_pgp_verify_detached(keys, key ? 1 : 0, data, size, sig, sig_size, now, sig_name,
                                        &u, &s);
        if (signer)
                *signer = s;
        else
                aci_pgp_signer_done(&s);
        if (unknown)
                *unknown = u;
        return r;
}

static uint8_t *binary_of(const char *name, pgp_armor_kind kind, size_t *size);

/* ---------------------------------------------------------------- known answers */

static void test_good(const char *key_name, const char *sig_name)
{
        char fpr[41], uid[256], file[64];
        expected(key_name, fpr, uid);
        snprintf(file, sizeof(file), "%s.pub.asc", key_name);
        aci_pgp_key *k = load_key(file);
        CHECK_STREQ(aci_pgp_key_fingerprint(k), fpr);
        size_t n;
        const char *const *uids = aci_pgp_key_user_ids(k, &n);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(uids[0], uid);
        char *why = NULL;
        CHECK_EQ_INT(aci_pgp_key_check(k, now, &why), 0);

        size_t size;
        _cleanup_(freep) uint8_t *data = slurp("data", &size);
        aci_pgp_signer s;
        CHECK_EQ_INT(verify(k, sig_name, data, size, &s, NULL), 0);
        CHECK_STREQ(s.fingerprint, fpr);
        CHECK_STREQ(s.user_id, uid);
        CHECK(s.created > 0);
        aci_pgp_signer_done(&s);

        /* One byte changed, one byte more, one byte less: a bad signature. */
        data[0] ^= 1;
        CHECK_EQ_INT(verify(k, sig_name, data, size, NULL, NULL), -EBADMSG);
        data[0] ^= 1;
        CHECK_EQ_INT(verify(k, sig_name, data, size - 1, NULL, NULL), -EBADMSG);
        _cleanup_(freep) uint8_t *longer = malloc(size + 1);
        memcpy(longer, data, size);
        longer[size] = '\n';
        CHECK_EQ_INT(verify(k, sig_name, longer, size + 1, NULL, NULL), -EBADMSG);
        aci_pgp_key_free(k);
}

static void test_known_answers(void)
{
        test_good("rsa3072", "rsa3072.sig.asc");
        test_good("rsa3072", "rsa3072.sig");
        test_good("rsa3072", "rsa3072-sha384.sig");
        test_good("p256", "p256.sig.asc");
        test_good("p384", "p384.sig.asc");
        test_good("p521", "p521.sig.asc");
        test_good("ed25519", "ed25519.sig.asc");

        /* A signing subkey: the signer is the primary key, the signing key the subkey. */
        char fpr[41], uid[256], sub[41], unused[256];
        expected("subkey", fpr, uid);
        expected("subkey-signing", sub, unused);
        aci_pgp_key *k = load_key("subkey.pub.asc");
        CHECK_STREQ(aci_pgp_key_fingerprint(k), fpr);
        CHECK_EQ_INT(aci_pgp_key_n_subkeys(k), 2);
        CHECK_STREQ(aci_pgp_key_subkey_fingerprint(k, 1), sub);
        CHECK(aci_pgp_key_has(k, sub));
        CHECK(aci_pgp_key_has(k, sub + 24)); /* its key ID */
        size_t size;
        _cleanup_(freep) uint8_t *data = slurp("data", &size);
        aci_pgp_signer s;
        CHECK_EQ_INT(verify(k, "subkey.sig.asc", data, size, &s, NULL), 0);
        CHECK_STREQ(s.fingerprint, fpr);
        CHECK_STREQ(s.key_fingerprint, sub);
        CHECK_STREQ(s.user_id, uid);
        aci_pgp_signer_done(&s);

        /* Another key's signature: unknown issuer, named by its fingerprint. */
        aci_pgp_issuer u;
        expected("rsa3072", fpr, uid);
        CHECK_EQ_INT(verify(k, "rsa3072.sig.asc", data, size, NULL, &u), -ENOKEY);
        CHECK_STREQ(u.id, fpr);
        CHECK_EQ_INT(verify(NULL, "rsa3072.sig.asc", data, size, NULL, &u), -ENOKEY);
        aci_pgp_key_free(k);

        k = load_key("rsa3072.pub.asc");
        CHECK_EQ_INT(verify(k, "rsa3072-sha1.sig", data, size, NULL, NULL), -EKEYREJECTED);
        aci_pgp_key_free(k);

        k = load_key("revoked.pub.asc");
        char *why = NULL;
        CHECK_EQ_INT(aci_pgp_key_check(k, now, &why), -EKEYREVOKED);
        CHECK(strstr(why, "revoked"));
        free(why);
        CHECK_EQ_INT(verify(k, "revoked.sig.asc", data, size, NULL, NULL), -EKEYREVOKED);
        aci_pgp_key_free(k);

        k = load_key("expired.pub.asc");
        CHECK_EQ_INT(aci_pgp_key_check(k, now, &why), -EKEYEXPIRED);
        CHECK(strstr(why, "expired on 2020-01-02"));
        free(why);
        CHECK_EQ_INT(verify(k, "expired.sig.asc", data, size, NULL, NULL), -EKEYEXPIRED);
        /* Back then it was fine. */
        int64_t saved = now;
        now = 1577880000; /* 2020-01-01 12:00 UTC */
        CHECK_EQ_INT(verify(k, "expired.sig.asc", data, size, NULL, NULL), 0);
        now = saved;
        aci_pgp_key_free(k);

        k = load_key("old.pub.asc");
        CHECK_EQ_INT(aci_pgp_key_check(k, now, &why), 0);
        CHECK_EQ_INT(verify(k, "sigexpired.sig.asc", data, size, NULL, NULL), -EKEYEXPIRED);
        aci_pgp_key_free(k);

        /* Two signatures in one file: both must verify. */
        k = load_key("rsa3072.pub.asc");
        {
                size_t a_size, b_size, c_size, p_size;
                _cleanup_(freep) uint8_t *a = slurp("rsa3072.sig", &a_size);
                _cleanup_(freep) uint8_t *b = slurp("rsa3072-sha384.sig", &b_size);
                _cleanup_(freep) uint8_t *c = slurp("rsa3072-sha1.sig", &c_size);
                _cleanup_(freep) uint8_t *p =
                    binary_of("p256.sig.asc", PGP_ARMOR_SIGNATURE, &p_size);
                _cleanup_(freep) uint8_t *two = malloc(a_size + b_size + c_size + p_size);
                aci_pgp_key *one[] = {k};
                aci_pgp_signer sg;
                memcpy(two, a, a_size);
                memcpy(two + a_size, b, b_size);
                CHECK_EQ_INT(aci_pgp_verify_detached(one, 1, data, size, two, a_size + b_size, now,
                                                     "good+good", &u, &sg),
                             0);
                aci_pgp_signer_done(&sg);
                memcpy(two + a_size, c, c_size);
                CHECK_EQ_INT(aci_pgp_verify_detached(one, 1, data, size, two, a_size + c_size, now,
                                                     "good+sha1", &u, &sg),
                             -EKEYREJECTED);
                memcpy(two + a_size, p, p_size);
                CHECK_EQ_INT(aci_pgp_verify_detached(one, 1, data, size, two, a_size + p_size, now,
                                                     "good+unknown", &u, &sg),
                             -ENOKEY);
        }
        aci_pgp_key_free(k);

        /* Empty and garbage signature files. */
        k = load_key("ed25519.pub.asc");
        aci_pgp_key *keys[] = {k};
        aci_pgp_signer sg;
        CHECK_EQ_INT(aci_pgp_verify_detached(keys, 1, data, size, "", 0, now, "empty", &u, &sg),
                     -EBADMSG);
        static const char garbage[] = "<html>not found</html>\n";
        CHECK_EQ_INT(aci_pgp_verify_detached(keys, 1, data, size, garbage, sizeof(garbage) - 1, now,
                                             "garbage", &u, &sg),
                     -EBADMSG);
        /* A key where a signature belongs. */
        size_t ksize;
        _cleanup_(freep) uint8_t *key_text = slurp("ed25519.pub.asc", &ksize);
        CHECK_EQ_INT(
            aci_pgp_verify_detached(keys, 1, data, size, key_text, ksize, now, "key", &u, &sg),
            -EBADMSG);
        aci_pgp_key_free(k);
}

/* ---------------------------------------------------------------- armor, fingerprints */

static void test_armor(void)
{
        aci_pgp_key *k = load_key("p256.pub.asc");
        _cleanup_(freep) char *text = NULL;
        size_t size;
        CHECK_EQ_INT(aci_pgp_key_armor(k, &text, &size), 0);
        CHECK(strncmp(text, "-----BEGIN PGP PUBLIC KEY BLOCK-----\n", 37) == 0);
        aci_pgp_key **keys;
        size_t n;
        CHECK_EQ_INT(aci_pgp_keys_parse(text, size, "re-armored", &keys, &n), 0);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(aci_pgp_key_fingerprint(keys[0]), aci_pgp_key_fingerprint(k));
        aci_pgp_keys_free(keys, n);

        /* Binary, and the armored text with a broken checksum. */
        _cleanup_(freep) uint8_t *bin = NULL;
        size_t bin_size;
        CHECK_EQ_INT(pgp_dearmor(text, size, PGP_ARMOR_PUBLIC_KEY, "t", &bin, &bin_size), 1);
        CHECK_EQ_INT(aci_pgp_keys_parse(bin, bin_size, "binary", &keys, &n), 0);
        aci_pgp_keys_free(keys, n);
        char *crc = strstr(text, "\n=");
        CHECK(crc);
        crc[2] = crc[2] == 'A' ? 'B' : 'A';
        CHECK_EQ_INT(aci_pgp_keys_parse(text, size, "bad crc", &keys, &n), -EBADMSG);
        /* A signature block where a key is wanted. */
        size_t ssize;
        _cleanup_(freep) uint8_t *sig = slurp("p256.sig.asc", &ssize);
        CHECK_EQ_INT(aci_pgp_keys_parse(sig, ssize, "sig", &keys, &n), -EBADMSG);
        aci_pgp_key_free(k);

        char pretty[ACI_PGP_FPR_PRETTY_SIZE], back[ACI_PGP_FPR_HEX_SIZE];
        aci_pgp_fingerprint_pretty("8b86de38890ddb7291867b025210bd8888182190", pretty);
        CHECK_STREQ(pretty, "8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190");
        CHECK_EQ_INT(aci_pgp_fingerprint_normalize(pretty, back), 0);
        CHECK_STREQ(back, "8b86de38890ddb7291867b025210bd8888182190");
        CHECK_EQ_INT(aci_pgp_fingerprint_normalize("8B86", back), -EINVAL);
        CHECK_EQ_INT(
            aci_pgp_fingerprint_normalize("8b86de38890ddb7291867b025210bd888818219g", back),
            -EINVAL);
        CHECK_EQ_INT(pgp_crc24((const uint8_t *)"", 0), 0xb704ce);
}

/* ---------------------------------------------------------------- Ed25519, algorithm 27 */

typedef struct buf {
        uint8_t b[4096];
        size_t n;
} buf;

static void put(buf *b, const void *d, size_t n)
{
        CHECK(b->n + n <= sizeof(b->b));
        memcpy(b->b + b->n, d, n);
        b->n += n;
}

static void put8(buf *b, uint8_t v)
{
        put(b, &v, 1);
}

static void put32(buf *b, uint32_t v)
{
        uint8_t d[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
        put(b, d, 4);
}

/* A new-format packet with a one- or two-octet length. */
static void put_packet(buf *out, uint8_t tag, const buf *body)
{
        put8(out, 0xc0 | tag);
        if (body->n < 192)
                put8(out, (uint8_t)body->n);
        else {
                put8(out, (uint8_t)(((body->n - 192) >> 8) + 192));
                put8(out, (uint8_t)(body->n - 192));
        }
        put(out, body->b, body->n);
}

/* A v4 Ed25519 (27) signature of `type` over prefix (what precedes the hashed part). */
static void make_sig(buf *out, EVP_PKEY *pkey, uint8_t type, const uint8_t fpr[20],
                     const buf *prefix, uint32_t created)
{
        buf hashed = {}, body = {};
        put8(&hashed, 5); /* creation time */
        put8(&hashed, 2);
        put32(&hashed, created);
        put8(&hashed, 2); /* key flags: certify, sign */
        put8(&hashed, 27);
        put8(&hashed, 3);
        put8(&hashed, 22); /* issuer fingerprint */
        put8(&hashed, 33);
        put8(&hashed, 4);
        put(&hashed, fpr, 20);

        put8(&body, 4);
        put8(&body, type);
        put8(&body, PGP_PK_ED25519);
        put8(&body, PGP_HASH_SHA256);
        put8(&body, (uint8_t)(hashed.n >> 8));
        put8(&body, (uint8_t)hashed.n);
        put(&body, hashed.b, hashed.n);
        size_t hashed_size = body.n;
        buf pre = *prefix;
        put(&pre, body.b, hashed_size);
        put8(&pre, 4);
        put8(&pre, 0xff);
        put32(&pre, (uint32_t)hashed_size);
        uint8_t digest[32], sig[64];
        CHECK(EVP_Digest(pre.b, pre.n, digest, NULL, EVP_sha256(), NULL) == 1);
        EVP_MD_CTX *c = EVP_MD_CTX_new();
        size_t sig_size = sizeof(sig);
        CHECK(c && EVP_DigestSignInit(c, NULL, NULL, NULL, pkey) == 1);
        CHECK(EVP_DigestSign(c, sig, &sig_size, digest, sizeof(digest)) == 1);
        EVP_MD_CTX_free(c);
        put8(&body, 0); /* no unhashed subpackets */
        put8(&body, 0);
        put(&body, digest, 2);
        put(&body, sig, 64);
        put_packet(out, PGP_TAG_SIGNATURE, &body);
}

static void test_ed25519_v27(void)
{
        EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        CHECK(pkey);
        uint8_t pub[32];
        size_t pub_size = sizeof(pub);
        CHECK(EVP_PKEY_get_raw_public_key(pkey, pub, &pub_size) == 1 && pub_size == 32);
        uint32_t created = (uint32_t)now - 3600;

        buf key_body = {}, uid = {}, file = {}, prefix = {};
        put8(&key_body, 4);
        put32(&key_body, created);
        put8(&key_body, PGP_PK_ED25519);
        put(&key_body, pub, 32);
        /* The fingerprint, computed by its definition. */
        buf fp_in = {};
        put8(&fp_in, 0x99);
        put8(&fp_in, 0);
        put8(&fp_in, (uint8_t)key_body.n);
        put(&fp_in, key_body.b, key_body.n);
        uint8_t fpr[20];
        char fpr_hex[41];
        CHECK(EVP_Digest(fp_in.b, fp_in.n, fpr, NULL, EVP_sha1(), NULL) == 1);
        pgp_hex(fpr, 20, fpr_hex);

        static const char name[] = "Alg27 Test <a27@example.com>";
        put(&uid, name, strlen(name));
        put_packet(&file, PGP_TAG_PUBLIC_KEY, &key_body);
        put_packet(&file, PGP_TAG_USER_ID, &uid);
        prefix = fp_in;
        put8(&prefix, 0xb4);
        put32(&prefix, (uint32_t)uid.n);
        put(&prefix, uid.b, uid.n);
        make_sig(&file, pkey, PGP_SIG_CERT_POSITIVE, fpr, &prefix, created);

        aci_pgp_key **keys;
        size_t n, size;
        CHECK_EQ_INT(aci_pgp_keys_parse(file.b, file.n, "alg27", &keys, &n), 0);
        CHECK_EQ_INT(n, 1);
        CHECK_STREQ(aci_pgp_key_fingerprint(keys[0]), fpr_hex);
        const char *const *uids = aci_pgp_key_user_ids(keys[0], &size);
        CHECK_EQ_INT(size, 1);
        CHECK_STREQ(uids[0], name);

        static const char doc[] = "an index";
        buf sig = {}, doc_prefix = {};
        put(&doc_prefix, doc, sizeof(doc) - 1);
        make_sig(&sig, pkey, PGP_SIG_BINARY, fpr, &doc_prefix, created + 60);
        aci_pgp_signer s;
        aci_pgp_issuer u;
        CHECK_EQ_INT(aci_pgp_verify_detached(keys, 1, doc, sizeof(doc) - 1, sig.b, sig.n, now,
                                             "alg27 sig", &u, &s),
                     0);
        CHECK_STREQ(s.user_id, name);
        aci_pgp_signer_done(&s);
        CHECK_EQ_INT(aci_pgp_verify_detached(keys, 1, doc, sizeof(doc) - 2, sig.b, sig.n, now,
                                             "alg27 sig", &u, &s),
                     -EBADMSG);
        /* The self-signature broken: the user ID is not shown, the key has no self-signature. */
        file.b[file.n - 1] ^= 0x40;
        aci_pgp_keys_free(keys, n);
        CHECK_EQ_INT(aci_pgp_keys_parse(file.b, file.n, "alg27 broken", &keys, &n), 0);
        aci_pgp_key_user_ids(keys[0], &size);
        CHECK_EQ_INT(size, 0);
        CHECK_EQ_INT(aci_pgp_verify_detached(keys, 1, doc, sizeof(doc) - 1, sig.b, sig.n, now,
                                             "alg27 sig", &u, &s),
                     -EKEYREJECTED);
        aci_pgp_keys_free(keys, n);
        EVP_PKEY_free(pkey);
}

/* ---------------------------------------------------------------- hostile input */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
        /* xorshift64*: a fixed sequence, so a failure reproduces. */
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dULL;
}

static unsigned accepted; /* mutants that still parse/verify: fine, counted for the log */

/* Parses key bytes and, if that works, verifies sig with the keys: any result but a crash. */
static void feed(const uint8_t *key, size_t key_size, const uint8_t *sig, size_t sig_size,
                 const uint8_t *data, size_t size)
{
        aci_pgp_key **keys = NULL;
        size_t n = 0;
        if (aci_pgp_keys_parse(key, key_size, "mutant key", &keys, &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                char *why = NULL;
                (void)aci_pgp_key_check(keys[i], now, &why);
                free(why);
                _cleanup_(freep) char *text = NULL;
                size_t text_size;
                CHECK_EQ_INT(aci_pgp_key_armor(keys[i], &text, &text_size), 0);
        }
        aci_pgp_signer s;
        aci_pgp_issuer u;
        if (aci_pgp_verify_detached(keys, n, data, size, sig, sig_size, now, "mutant sig", &u,
                                    &s) == 0) {
                accepted++;
                aci_pgp_signer_done(&s);
        }
        aci_pgp_keys_free(keys, n);
}

static void mutate_all(const uint8_t *in, size_t in_size, bool is_key, const uint8_t *other,
                       size_t other_size, const uint8_t *data, size_t size, unsigned flips)
{
        _cleanup_(freep) uint8_t *m = malloc(in_size + 1);
        CHECK(m);
#define FEED(buf, n)                                                                               \
        do {                                                                                       \
                if (is_key)                                                                        \
                        feed(buf, n, other, other_size, data, size);                               \
                else                                                                               \
                        feed(other, other_size, buf, n, data, size);                               \
        } while (0)
        /* Every truncation. */
        for (size_t cut = 0; cut < in_size; cut++) {
                memcpy(m, in, cut);
                FEED(m, cut);
        }
        /* Extreme values at every position: length fields, counts, tags, MPI bit counts. */
        static const uint8_t extremes[] = {0x00, 0x01, 0x7f, 0x80, 0xbf, 0xc0, 0xdf, 0xe0, 0xff};
        for (size_t i = 0; i < in_size; i++)
                for (size_t e = 0; e < ELEMENTSOF(extremes); e++) {
                        memcpy(m, in, in_size);
                        m[i] = extremes[e];
                        FEED(m, in_size);
                }
        /* Random flips of one to four bytes. */
        for (unsigned it = 0; it < flips; it++) {
                memcpy(m, in, in_size);
                unsigned k = 1 + (unsigned)(rng() % 4);
                for (unsigned j = 0; j < k; j++)
                        m[rng() % in_size] ^= (uint8_t)(1 + rng() % 255);
                FEED(m, in_size);
        }
#undef FEED
}

static uint8_t *binary_of(const char *name, pgp_armor_kind kind, size_t *size)
{
        size_t text_size;
        _cleanup_(freep) uint8_t *text = slurp(name, &text_size);
        uint8_t *bin = NULL;
        if (pgp_dearmor(text, text_size, kind, name, &bin, size) == 0) {
                *size = text_size;
                return TAKE_PTR(text);
        }
        CHECK(bin);
        return bin;
}

static void test_hostile(void)
{
        static const struct {
                const char *key, *sig;
        } pairs[] = {
            {"ed25519.pub.asc", "ed25519.sig.asc"},
            {"p256.pub.asc", "p256.sig.asc"},
            {"subkey.pub.asc", "subkey.sig.asc"},
            {"rsa3072.pub.asc", "rsa3072.sig"},
        };
        size_t size;
        _cleanup_(freep) uint8_t *data = slurp("data", &size);
        int level = ca_log_get_max_level();
        ca_log_set_max_level(0); /* thousands of expected errors */
        unsigned total = 0;
        for (size_t i = 0; i < ELEMENTSOF(pairs); i++) {
                size_t ks, ss, sa;
                _cleanup_(freep) uint8_t *key = binary_of(pairs[i].key, PGP_ARMOR_PUBLIC_KEY, &ks);
                _cleanup_(freep) uint8_t *sig = binary_of(pairs[i].sig, PGP_ARMOR_SIGNATURE, &ss);
                _cleanup_(freep) uint8_t *sig_text = slurp(pairs[i].sig, &sa);
                /* RSA keys are slow to re-verify: fewer random flips there. */
                unsigned flips = strncmp(pairs[i].key, "rsa", 3) == 0 ? 500 : 3000;
                mutate_all(sig, ss, false, key, ks, data, size, flips);
                mutate_all(key, ks, true, sig, ss, data, size, flips / 2);
                /* The armored forms too: truncations and flips in the text. */
                mutate_all(sig_text, sa, false, key, ks, data, size, flips / 4);
                total += 3 * (unsigned)(ss + ks + sa) + flips * 2;
                /* Sanity: the untouched pair still verifies. */
                aci_pgp_key **keys;
                size_t n;
                aci_pgp_signer s;
                aci_pgp_issuer u;
                CHECK_EQ_INT(aci_pgp_keys_parse(key, ks, "key", &keys, &n), 0);
                CHECK_EQ_INT(
                    aci_pgp_verify_detached(keys, n, data, size, sig, ss, now, "sig", &u, &s), 0);
                aci_pgp_signer_done(&s);
                aci_pgp_keys_free(keys, n);
        }
        ca_log_set_max_level(level);
        fprintf(stderr, "hostile input: about %u mutants, %u still verified (unsigned bytes)\n",
                total, accepted);
}

int main(void)
{
        /* A fixed time after the fixtures were made (make-fixtures.sh ran in late 2026), so
         * that the known answers do not depend on this machine's clock. */
        now = 1800000000; /* 2027-01-15 */
        test_known_answers();
        test_armor();
        test_ed25519_v27();
        test_hostile();
        return 0;
}
