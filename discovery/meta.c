/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * ac-discovery meta tags from an HTML page. The page is parsed by libxml2's HTML parser and the
 * tags are read from the resulting tree only, so markup inside comments, <script> or attribute
 * values never counts; matching raw text would be fooled by all three.
 */
#include <errno.h>
#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <string.h>
#include <strings.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

bool dc_prefix_matches(const char *prefix, const char *name)
{
        size_t n = strlen(prefix);

        /* Whole components only: "example.com/foo" must not answer for "example.com/foobar". */
        if (n == 0 || strncmp(prefix, name, n) != 0)
                return false;
        return name[n] == '\0' || name[n] == '/';
}

void dc_meta_tags_free(dc_meta_tag *tags, size_t n)
{
        for (size_t i = 0; i < n; i++) {
                free(tags[i].prefix);
                free(tags[i].template);
        }
        free(tags);
}

static void xml_doc_freep(htmlDocPtr *d)
{
        if (*d)
                xmlFreeDoc(*d);
}

static void xml_charp_freep(xmlChar **p)
{
        if (*p)
                xmlFree(*p);
}

static bool is_space(char c)
{
        return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* The value of the first attribute called attr (any case), or NULL. */
static xmlChar *get_attr(xmlNode *node, const char *attr)
{
        for (xmlAttr *a = node->properties; a; a = a->next)
                if (a->name && strcasecmp((const char *)a->name, attr) == 0)
                        return xmlNodeListGetString(node->doc, a->children, 1);
        return NULL;
}

/* Splits trimmed content into prefix and template at the first run of whitespace. */
static int split_content(const char *content, dc_meta_tag *tag)
{
        const char *s = content, *e = content + strlen(content);

        while (s < e && is_space(*s))
                s++;
        while (e > s && is_space(e[-1]))
                e--;
        const char *sep = s;
        while (sep < e && !is_space(*sep))
                sep++;
        const char *t = sep;
        while (t < e && is_space(*t))
                t++;
        if (sep == s || t == e)
                return -EBADMSG;

        tag->prefix = strndup(s, (size_t)(sep - s));
        tag->template = strndup(t, (size_t)(e - t));
        if (!tag->prefix || !tag->template) {
                free(tag->prefix);
                free(tag->template);
                return -ENOMEM;
        }
        return 0;
}

/*
 * Elements whose content HTML5 reads as text, not markup. libxml2's HTML 4 parser builds elements
 * inside some of them (<title>, <textarea>, <noscript>); skipping them matches browsers and the
 * reference Go tokenizer, so echoed text there cannot pose as a tag.
 */
static bool is_raw_text(const xmlChar *name)
{
        static const char *const raw[] = {"iframe",    "noembed", "noframes", "noscript",
                                          "plaintext", "script",  "style",    "template",
                                          "textarea",  "title",   "xmp"};
        for (size_t i = 0; i < ELEMENTSOF(raw); i++)
                if (strcasecmp((const char *)name, raw[i]) == 0)
                        return true;
        return false;
}

/* Reads one <meta>; 1 if it is an ac-discovery tag (filled in), 0 if not, or negative. */
static int read_meta(xmlNode *node, dc_meta_tag *tag)
{
        _cleanup_(xml_charp_freep) xmlChar *name = get_attr(node, "name");
        if (!name)
                return 0;

        const char *n = (const char *)name;
        while (is_space(*n))
                n++;
        size_t len = strlen(n);
        while (len > 0 && is_space(n[len - 1]))
                len--;
        if (len == strlen("ac-discovery") && strncasecmp(n, "ac-discovery", len) == 0)
                tag->kind = DC_META_DISCOVERY;
        else if (len == strlen("ac-discovery-pubkeys") &&
                 strncasecmp(n, "ac-discovery-pubkeys", len) == 0)
                tag->kind = DC_META_PUBKEYS;
        else
                return 0;

        _cleanup_(xml_charp_freep) xmlChar *content = get_attr(node, "content");
        if (!content) {
                ca_log_debug("discovery: ignoring <meta name=\"%.*s\"> without content", (int)len,
                             n);
                return 0;
        }
        int r = split_content((const char *)content, tag);
        if (r == -EBADMSG) {
                ca_log_debug("discovery: ignoring <meta name=\"%.*s\">: content is not "
                             "\"PREFIX URL\"",
                             (int)len, n);
                return 0;
        }
        return r < 0 ? r : 1;
}

int dc_meta_parse(const uint8_t *html, size_t size, dc_meta_tag **ret, size_t *n)
{
        *ret = NULL;
        *n = 0;
        /* Refuse before parsing: libxml2's size handling has overflowed on huge inputs. */
        if (size > DC_PAGE_MAX) {
                ca_log_debug("discovery: page of %zu bytes is over the %d-byte cap", size,
                             DC_PAGE_MAX);
                return -EFBIG;
        }
        if (size == 0)
                return 0;

        xmlInitParser();
        _cleanup_(xml_doc_freep) htmlDocPtr doc = htmlReadMemory(
            (const char *)html, (int)size, NULL, NULL,
            HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_RECOVER);
        if (!doc) {
                ca_log_debug("discovery: page could not be parsed as HTML");
                return 0;
        }

        dc_meta_tag *tags = NULL;
        size_t count = 0;
        int r = 0;

        /* Iterative pre-order walk: recursion depth would follow the page's nesting. */
        xmlNode *root = (xmlNode *)doc;
        for (xmlNode *node = root->children; node && count < DC_TAGS_MAX;) {
                if (node->type == XML_ELEMENT_NODE && node->name &&
                    strcasecmp((const char *)node->name, "meta") == 0) {
                        if (!tags) {
                                tags = calloc(DC_TAGS_MAX, sizeof(dc_meta_tag));
                                if (!tags) {
                                        r = -ENOMEM;
                                        break;
                                }
                        }
                        r = read_meta(node, &tags[count]);
                        if (r < 0)
                                break;
                        count += (size_t)r;
                        r = 0;
                }

                if (node->type == XML_ELEMENT_NODE && node->children && node->name &&
                    !is_raw_text(node->name)) {
                        node = node->children;
                        continue;
                }
                while (node && node != root && !node->next)
                        node = node->parent;
                node = node && node != root ? node->next : NULL;
        }
        if (r < 0) {
                dc_meta_tags_free(tags, count);
                return r;
        }
        if (count == DC_TAGS_MAX)
                ca_log_debug("discovery: page has %d or more tags, ignoring the rest", DC_TAGS_MAX);
        if (count == 0) {
                free(tags);
                return 0;
        }
        *ret = tags;
        *n = count;
        return 0;
}
