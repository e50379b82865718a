/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Meta tags from HTML: the appc examples, hostile pages, and 2,000 random and mutated pages. */
#include <string.h>

#include "casync/casync.h"
#include "discovery/discovery.h"
#include "tests/test.h"

typedef struct parsed {
        dc_meta_tag *tags;
        size_t n;
} parsed;

static void parsed_done(parsed *p)
{
        dc_meta_tags_free(p->tags, p->n);
        *p = (parsed){};
}

static int parse_str(const char *html, parsed *p)
{
        return dc_meta_parse((const uint8_t *)html, strlen(html), &p->tags, &p->n);
}

static void check_tag(const parsed *p, size_t i, dc_meta_kind kind, const char *prefix,
                      const char *tmpl)
{
        CHECK(i < p->n);
        CHECK_EQ_INT(p->tags[i].kind, kind);
        CHECK_STREQ(p->tags[i].prefix, prefix);
        CHECK_STREQ(p->tags[i].template, tmpl);
}

static void test_spec_examples(void)
{
        _cleanup_(parsed_done) parsed p = {};
        CHECK_EQ_INT(parse_str("<!DOCTYPE html><html><head>\n"
                               "<meta name=\"ac-discovery\" content=\"example.com "
                               "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}\">\n"
                               "<meta name=\"ac-discovery-pubkeys\" content=\"example.com "
                               "https://example.com/pubkeys.gpg\">\n"
                               "<meta name=\"description\" content=\"not ours\">\n"
                               "<meta name=\"ac-discovery\" content=\"kinvolk.io/ubuntu "
                               "http://kinvolk.io/rootfs.caidx\"/>\n"
                               "</head><body></body></html>",
                               &p),
                     0);
        CHECK_EQ_INT(p.n, 3);
        check_tag(&p, 0, DC_META_DISCOVERY, "example.com",
                  "https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}");
        check_tag(&p, 1, DC_META_PUBKEYS, "example.com", "https://example.com/pubkeys.gpg");
        check_tag(&p, 2, DC_META_DISCOVERY, "kinvolk.io/ubuntu", "http://kinvolk.io/rootfs.caidx");
}

static void test_hostile(void)
{
        _cleanup_(parsed_done) parsed p = {};

        /* Broken HTML: unclosed tags, no quotes, stray end tags, meta in body. */
        CHECK_EQ_INT(parse_str("<html><body><div><p>text</span>"
                               "<meta name=ac-discovery content='a.com https://a.com/{name}'>"
                               "<table><tr><td><meta name=\"ac-discovery\" "
                               "content=\"b.com https://b.com/x\"",
                               &p),
                     0);
        CHECK(p.n >= 1);
        check_tag(&p, 0, DC_META_DISCOVERY, "a.com", "https://a.com/{name}");
        parsed_done(&p);

        /* Upper-case element, attribute name and value; whitespace runs and trimming. */
        CHECK_EQ_INT(parse_str("<HTML><HEAD><META NAME=\"AC-Discovery\" CONTENT=\"  a.com \t\n "
                               " https://a.com/x y  \"><Meta Name=\" AC-DISCOVERY-PUBKEYS \" "
                               "Content=\"a.com https://a.com/k\"></HEAD></HTML>",
                               &p),
                     0);
        CHECK_EQ_INT(p.n, 2);
        check_tag(&p, 0, DC_META_DISCOVERY, "a.com", "https://a.com/x y");
        check_tag(&p, 1, DC_META_PUBKEYS, "a.com", "https://a.com/k");
        parsed_done(&p);

        /* Meta markup in comments, scripts, styles and attribute values is not an element. */
        CHECK_EQ_INT(parse_str("<html><head><!-- <meta name=\"ac-discovery\" content=\"evil.com "
                               "https://evil.com/c\"> -->"
                               "<script>document.write('<meta name=\"ac-discovery\" "
                               "content=\"evil.com https://evil.com/s\">');</script>"
                               "<style>/* <meta name=\"ac-discovery\" content=\"evil.com "
                               "https://evil.com/y\"> */</style>"
                               "<meta name=\"x\" content='<meta name=\"ac-discovery\" "
                               "content=\"evil.com https://evil.com/a\">'>"
                               "<title><meta name=\"ac-discovery\" content=\"evil.com "
                               "https://evil.com/t\"></title>"
                               "<noscript><meta name=\"ac-discovery\" content=\"evil.com "
                               "https://evil.com/n\"></noscript>"
                               "<meta name=\"ac-discovery\" content=\"good.com https://good.com/\">"
                               "</head><body><textarea><meta name=\"ac-discovery\" "
                               "content=\"evil.com https://evil.com/x\"></textarea></body></html>",
                               &p),
                     0);
        CHECK_EQ_INT(p.n, 1);
        check_tag(&p, 0, DC_META_DISCOVERY, "good.com", "https://good.com/");
        parsed_done(&p);

        /* Entities in content are decoded by the parser. */
        CHECK_EQ_INT(parse_str("<meta name=\"ac-discovery\" content=\"a.com&#32;https://a.com/"
                               "{name}?x=1&amp;y=&lt;2&gt;&#x7b;os&#x7d;\">",
                               &p),
                     0);
        CHECK_EQ_INT(p.n, 1);
        check_tag(&p, 0, DC_META_DISCOVERY, "a.com", "https://a.com/{name}?x=1&y=<2>{os}");
        parsed_done(&p);

        /* Content missing, empty, prefix only, or template only: ignored. */
        CHECK_EQ_INT(parse_str("<meta name=\"ac-discovery\">"
                               "<meta name=\"ac-discovery\" content=\"\">"
                               "<meta name=\"ac-discovery\" content=\"   a.com   \">"
                               "<meta name=\"ac-discovery-pubkeys\" content=\" \t\">"
                               "<meta name=\"ac-discoveryx\" content=\"a.com https://a.com/\">"
                               "<meta content=\"a.com https://a.com/\">",
                               &p),
                     0);
        CHECK_EQ_INT(p.n, 0);
        CHECK(p.tags == NULL);

        /* NUL bytes: bounded, no crash; whatever comes out is well formed. */
        static const char nul_page[] = "<html><head><meta name=\"ac-discovery\" content=\"a.com "
                                       "https://a.com/1\">\0<meta name=\"ac-discovery\" "
                                       "content=\"b.com https://b\0.com/2\"></head></html>";
        CHECK_EQ_INT(dc_meta_parse((const uint8_t *)nul_page, sizeof(nul_page), &p.tags, &p.n), 0);
        CHECK(p.n <= 2);
        for (size_t i = 0; i < p.n; i++)
                CHECK(p.tags[i].prefix[0] && p.tags[i].template[0]);
        parsed_done(&p);

        /* UTF-16LE with a BOM: decoded by the parser. */
        const char *ascii = "<html><head><meta name=\"ac-discovery\" content=\"u.com "
                            "https://u.com/{name}\"></head></html>";
        size_t alen = strlen(ascii);
        _cleanup_(freep) uint8_t *u16 = malloc(2 + 2 * alen);
        CHECK(u16);
        u16[0] = 0xff;
        u16[1] = 0xfe;
        for (size_t i = 0; i < alen; i++) {
                u16[2 + 2 * i] = (uint8_t)ascii[i];
                u16[3 + 2 * i] = 0;
        }
        CHECK_EQ_INT(dc_meta_parse(u16, 2 + 2 * alen, &p.tags, &p.n), 0);
        CHECK_EQ_INT(p.n, 1);
        check_tag(&p, 0, DC_META_DISCOVERY, "u.com", "https://u.com/{name}");
        parsed_done(&p);

        /* Empty page. */
        CHECK_EQ_INT(dc_meta_parse((const uint8_t *)"", 0, &p.tags, &p.n), 0);
        CHECK_EQ_INT(p.n, 0);
}

static void test_bounds(void)
{
        _cleanup_(parsed_done) parsed p = {};

        /* Over the cap: refused unread (the buffer is 2 bytes, reading it would trip ASan). */
        CHECK_EQ_INT(dc_meta_parse((const uint8_t *)"<", (size_t)DC_PAGE_MAX + 1, &p.tags, &p.n),
                     -EFBIG);
        CHECK_EQ_INT(p.n, 0);

        /* Exactly at the cap, with more tags than DC_TAGS_MAX: parsed, tags capped. */
        _cleanup_(freep) char *page = malloc(DC_PAGE_MAX + 1);
        CHECK(page);
        size_t len = 0;
        const char *tag = "<meta name=\"ac-discovery\" content=\"a.com https://a.com/\">";
        while (len + strlen(tag) <= DC_PAGE_MAX) {
                memcpy(page + len, tag, strlen(tag));
                len += strlen(tag);
        }
        memset(page + len, ' ', DC_PAGE_MAX - len);
        page[DC_PAGE_MAX] = '\0';
        CHECK_EQ_INT(dc_meta_parse((const uint8_t *)page, DC_PAGE_MAX, &p.tags, &p.n), 0);
        CHECK_EQ_INT(p.n, DC_TAGS_MAX);
        parsed_done(&p);

        /* Deep nesting: no recursion on our side, libxml2 bounds its own depth. */
        len = 0;
        while (len + 5 <= DC_PAGE_MAX - 100) {
                memcpy(page + len, "<div>", 5);
                len += 5;
        }
        strcpy(page + len, "<meta name=\"ac-discovery\" content=\"d.com https://d.com/\">");
        CHECK_EQ_INT(parse_str(page, &p), 0);
        CHECK(p.n <= 1);
}

/* xorshift64*: deterministic, so a failure can be replayed. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
        rng_state ^= rng_state >> 12;
        rng_state ^= rng_state << 25;
        rng_state ^= rng_state >> 27;
        return rng_state * 0x2545f4914f6cdd1dULL;
}

static void test_fuzz(void)
{
        static const char *seeds[] = {
            "<html><head><meta name=\"ac-discovery\" content=\"example.com "
            "https://example.com/{name}-{version}.{ext}\"><meta name=\"ac-discovery-pubkeys\" "
            "content=\"example.com https://example.com/k.gpg\"></head><body><!-- c --><script>"
            "x<y</script><p>&amp;&#0;&#xffffffff;</body></html>",
            "<meta name=ac-discovery content=a.com\\ https://a.com/>",
            "\xef\xbb\xbf<meta name='ac-discovery' content='a b'>",
            "\xff\xfe<\0m\0e\0t\0a\0",
            "<?xml version=\"1.0\" encoding=\"UTF-16\"?><html><meta charset=\"x-unknown\">",
        };
        static const char *tokens[] = {
            "<",          ">",         "<meta ", "name=\"ac-discovery\" ",
            "content=\"", "\"",        "<!--",   "-->",
            "<script>",   "</script>", "&#",     "&amp;",
            "\0",         "\xff\xfe",  "{name}", " ",
            "<![CDATA[",  "]]>",       "<html>", "<head>",
            "/>"};
        uint8_t buf[4096];

        for (int iter = 0; iter < 2000; iter++) {
                size_t len = 0;
                if (iter % 2 == 0) {
                        /* Random bytes, sometimes biased towards markup. */
                        len = rnd() % sizeof(buf);
                        for (size_t i = 0; i < len; i++)
                                buf[i] = iter % 4 == 0 ? (uint8_t)rnd()
                                                       : (uint8_t) "<>=\"' am/-!"[rnd() % 11];
                } else {
                        /* A seed mutated by flips, deletions and token insertions. */
                        const char *seed = seeds[rnd() % ELEMENTSOF(seeds)];
                        len = strlen(seed);
                        memcpy(buf, seed, len);
                        int ops = 1 + (int)(rnd() % 16);
                        for (int k = 0; k < ops; k++) {
                                size_t at = len ? rnd() % len : 0;
                                switch (rnd() % 3) {
                                case 0:
                                        if (len)
                                                buf[at] ^= (uint8_t)(1u << (rnd() % 8));
                                        break;
                                case 1:
                                        if (len) {
                                                memmove(buf + at, buf + at + 1, len - at - 1);
                                                len--;
                                        }
                                        break;
                                default: {
                                        const char *t = tokens[rnd() % ELEMENTSOF(tokens)];
                                        size_t tl = strlen(t) ? strlen(t) : 1;
                                        if (len + tl > sizeof(buf))
                                                break;
                                        memmove(buf + at + tl, buf + at, len - at);
                                        memcpy(buf + at, t, tl);
                                        len += tl;
                                }
                                }
                        }
                }

                dc_meta_tag *tags = NULL;
                size_t n = 0;
                CHECK_EQ_INT(dc_meta_parse(buf, len, &tags, &n), 0);
                CHECK(n <= DC_TAGS_MAX);
                for (size_t i = 0; i < n; i++) {
                        CHECK(tags[i].kind == DC_META_DISCOVERY || tags[i].kind == DC_META_PUBKEYS);
                        CHECK(tags[i].prefix[0] != '\0' && tags[i].template[0] != '\0');
                        CHECK(!strpbrk(tags[i].prefix, " \t\r\n\f\v"));
                }
                dc_meta_tags_free(tags, n);
        }
}

int main(void)
{
        test_spec_examples();
        test_hostile();
        test_bounds();
        test_fuzz();
        return 0;
}
