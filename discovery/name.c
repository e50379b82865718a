/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* appc image names and labels: the command-line grammar and the host's os/arch defaults. */
#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

#include "casync/casync.h"
#include "discovery/discovery.h"

static bool label_value_valid(const char *v)
{
        size_t len = strlen(v);

        if (len == 0 || len > DC_LABEL_VALUE_MAX)
                return false;
        for (const unsigned char *p = (const unsigned char *)v; *p; p++)
                if (*p < 0x20 || *p == 0x7f || *p == ',' || *p == ':' || *p == '=')
                        return false;
        return true;
}

dc_image *dc_image_free(dc_image *img)
{
        if (!img)
                return NULL;
        for (size_t i = 0; i < img->n_labels; i++) {
                free(img->labels[i].key);
                free(img->labels[i].value);
        }
        free(img->labels);
        free(img->name);
        free(img);
        return NULL;
}

const char *dc_image_label(const dc_image *img, const char *key)
{
        for (size_t i = 0; i < img->n_labels; i++)
                if (strcmp(img->labels[i].key, key) == 0)
                        return img->labels[i].value;
        return NULL;
}

int dc_image_set_label(dc_image *img, const char *key, const char *value)
{
        if (!dc_identifier_valid(key) || strlen(key) > DC_NAME_MAX) {
                ca_log_error("invalid label name \"%s\": not an AC Identifier", key);
                return -EINVAL;
        }
        if (strcmp(key, "name") == 0) {
                ca_log_error("label name \"name\" is reserved for the image name");
                return -EINVAL;
        }
        if (!label_value_valid(value)) {
                ca_log_error("invalid value for label %s: empty, longer than %d bytes, or "
                             "containing ',', ':', '=' or control characters",
                             key, DC_LABEL_VALUE_MAX);
                return -EINVAL;
        }

        _cleanup_(freep) char *v = strdup(value);
        if (!v)
                return -ENOMEM;

        /* Keep labels sorted by key so the canonical string needs no sort. */
        size_t i = 0;
        for (; i < img->n_labels; i++) {
                int c = strcmp(img->labels[i].key, key);
                if (c == 0) {
                        free(img->labels[i].value);
                        img->labels[i].value = TAKE_PTR(v);
                        return 0;
                }
                if (c > 0)
                        break;
        }
        if (img->n_labels >= DC_LABELS_MAX) {
                ca_log_error("too many labels (at most %d)", DC_LABELS_MAX);
                return -EINVAL;
        }

        _cleanup_(freep) char *k = strdup(key);
        if (!k)
                return -ENOMEM;
        dc_label *l = realloc(img->labels, (img->n_labels + 1) * sizeof(dc_label));
        if (!l)
                return -ENOMEM;
        img->labels = l;
        memmove(l + i + 1, l + i, (img->n_labels - i) * sizeof(dc_label));
        l[i] = (dc_label){.key = TAKE_PTR(k), .value = TAKE_PTR(v)};
        img->n_labels++;
        return 0;
}

static void drop_label(dc_image *img, const char *key)
{
        for (size_t i = 0; i < img->n_labels; i++)
                if (strcmp(img->labels[i].key, key) == 0) {
                        free(img->labels[i].key);
                        free(img->labels[i].value);
                        memmove(img->labels + i, img->labels + i + 1,
                                (img->n_labels - i - 1) * sizeof(dc_label));
                        img->n_labels--;
                        return;
                }
}

/* Adds one "key=value" part of an image string (len bytes at p). */
static int add_part(dc_image *img, const char *s, const char *p, size_t len)
{
        _cleanup_(freep) char *part = strndup(p, len);
        if (!part)
                return -ENOMEM;

        char *eq = strchr(part, '=');
        if (!eq) {
                ca_log_error("invalid image string \"%s\": \"%s\" is not key=value", s, part);
                return -EINVAL;
        }
        *eq = '\0';
        if (dc_image_label(img, part)) {
                ca_log_error("invalid image string \"%s\": label %s given twice", s, part);
                return -EINVAL;
        }
        return dc_image_set_label(img, part, eq + 1);
}

int dc_image_parse(const char *s, dc_image **ret)
{
        size_t len = strlen(s);
        if (len > DC_IMAGE_STRING_MAX) {
                ca_log_error("image string longer than %d bytes", DC_IMAGE_STRING_MAX);
                return -EINVAL;
        }

        const char *comma = strchr(s, ',');
        const char *colon = strchr(s, ':');
        if (colon && comma && colon > comma) {
                ca_log_error("invalid image string \"%s\": ':' must come before the first ','", s);
                return -EINVAL;
        }
        if (colon && strchr(colon + 1, ':')) {
                ca_log_error("invalid image string \"%s\": more than one ':'", s);
                return -EINVAL;
        }

        _cleanup_(dc_image_freep) dc_image *img = calloc(1, sizeof(dc_image));
        if (!img)
                return -ENOMEM;

        const char *end = s + len;
        const char *name_end = colon ? colon : comma ? comma : end;
        img->name = strndup(s, (size_t)(name_end - s));
        if (!img->name)
                return -ENOMEM;
        if (strlen(img->name) > DC_NAME_MAX || !dc_identifier_valid(img->name)) {
                ca_log_error("invalid image name \"%s\": not an AC Identifier "
                             "(lower-case letters, digits and -._~/ between them)",
                             img->name);
                return -EINVAL;
        }

        int r;
        if (colon) {
                const char *vend = comma ? comma : end;
                _cleanup_(freep) char *version = strndup(colon + 1, (size_t)(vend - colon - 1));
                if (!version)
                        return -ENOMEM;
                r = dc_image_set_label(img, "version", version);
                if (r < 0)
                        return r;
        }

        for (const char *p = comma; p;) {
                const char *start = p + 1;
                const char *next = strchr(start, ',');
                size_t plen = next ? (size_t)(next - start) : strlen(start);
                r = add_part(img, s, start, plen);
                if (r < 0)
                        return r;
                p = next;
        }

        /* "latest" is what discovery asks for without a version (the {version} of a template)
         * and what a publisher's latest link names: NAME:latest is the unversioned NAME. */
        const char *version = dc_image_label(img, "version");
        if (version && strcmp(version, "latest") == 0)
                drop_label(img, "version");

        *ret = TAKE_PTR(img);
        return 0;
}

int dc_host_os_arch(const char **os, const char **arch)
{
        static const struct {
                const char *machine, *appc;
        } table[] = {
            {"x86_64", "amd64"},
            {"i386", "i386"},
            {"i486", "i386"},
            {"i586", "i386"},
            {"i686", "i386"},
            {"aarch64", "aarch64"},
            {"aarch64_be", "aarch64_be"},
            {"armv6l", "armv6l"},
            {"armv7l", "armv7l"},
            {"armv7b", "armv7b"},
            {"ppc64", "ppc64"},
            {"ppc64le", "ppc64le"},
            {"s390x", "s390x"},
        };
        struct utsname u;

        if (uname(&u) < 0)
                return negative_errno();
        if (strcmp(u.sysname, "Linux") != 0) {
                ca_log_error("unsupported operating system %s", u.sysname);
                return -EOPNOTSUPP;
        }
        for (size_t i = 0; i < ELEMENTSOF(table); i++)
                if (strcmp(u.machine, table[i].machine) == 0) {
                        *os = "linux";
                        *arch = table[i].appc;
                        return 0;
                }
        ca_log_error("no appc spelling for machine %s; give arch= explicitly", u.machine);
        return -EOPNOTSUPP;
}

int dc_image_set_defaults(dc_image *img)
{
        const char *os, *arch;
        int r;

        if (dc_image_label(img, "os") && dc_image_label(img, "arch"))
                return 0;
        r = dc_host_os_arch(&os, &arch);
        if (r < 0)
                return r;
        if (!dc_image_label(img, "os")) {
                r = dc_image_set_label(img, "os", os);
                if (r < 0)
                        return r;
        }
        if (!dc_image_label(img, "arch")) {
                r = dc_image_set_label(img, "arch", arch);
                if (r < 0)
                        return r;
        }
        return 0;
}

int dc_image_to_string(const dc_image *img, char **ret)
{
        _cleanup_(freep) char *buf = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;

        fputs(img->name, f);
        const char *version = dc_image_label(img, "version");
        if (version)
                fprintf(f, ":%s", version);
        for (size_t i = 0; i < img->n_labels; i++)
                if (strcmp(img->labels[i].key, "version") != 0)
                        fprintf(f, ",%s=%s", img->labels[i].key, img->labels[i].value);
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(buf);
        return 0;
}
