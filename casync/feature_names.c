/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The words `casync make --with=/--without=` takes: one per WITH bit, and named sets. */
#include <string.h>

#include "casync/casync.h"

static const struct {
        const char *name;
        uint64_t bits;
} names[] = {
    {"16bit-uids", CA_FORMAT_WITH_16BIT_UIDS},
    {"32bit-uids", CA_FORMAT_WITH_32BIT_UIDS},
    {"user-names", CA_FORMAT_WITH_USER_NAMES},
    {"sec-time", CA_FORMAT_WITH_SEC_TIME},
    {"usec-time", CA_FORMAT_WITH_USEC_TIME},
    {"nsec-time", CA_FORMAT_WITH_NSEC_TIME},
    {"2sec-time", CA_FORMAT_WITH_2SEC_TIME},
    {"read-only", CA_FORMAT_WITH_READ_ONLY},
    {"permissions", CA_FORMAT_WITH_PERMISSIONS},
    {"symlinks", CA_FORMAT_WITH_SYMLINKS},
    {"device-nodes", CA_FORMAT_WITH_DEVICE_NODES},
    {"fifos", CA_FORMAT_WITH_FIFOS},
    {"sockets", CA_FORMAT_WITH_SOCKETS},
    {"flag-hidden", CA_FORMAT_WITH_FLAG_HIDDEN},
    {"flag-system", CA_FORMAT_WITH_FLAG_SYSTEM},
    {"flag-archive", CA_FORMAT_WITH_FLAG_ARCHIVE},
    {"flag-append", CA_FORMAT_WITH_FLAG_APPEND},
    {"flag-noatime", CA_FORMAT_WITH_FLAG_NOATIME},
    {"flag-compr", CA_FORMAT_WITH_FLAG_COMPR},
    {"flag-nocow", CA_FORMAT_WITH_FLAG_NOCOW},
    {"flag-nodump", CA_FORMAT_WITH_FLAG_NODUMP},
    {"flag-dirsync", CA_FORMAT_WITH_FLAG_DIRSYNC},
    {"flag-immutable", CA_FORMAT_WITH_FLAG_IMMUTABLE},
    {"flag-sync", CA_FORMAT_WITH_FLAG_SYNC},
    {"flag-nocomp", CA_FORMAT_WITH_FLAG_NOCOMP},
    {"flag-projinherit", CA_FORMAT_WITH_FLAG_PROJINHERIT},
    {"subvolume", CA_FORMAT_WITH_SUBVOLUME},
    {"subvolume-ro", CA_FORMAT_WITH_SUBVOLUME_RO},
    {"xattrs", CA_FORMAT_WITH_XATTRS},
    {"acl", CA_FORMAT_WITH_ACL},
    {"selinux", CA_FORMAT_WITH_SELINUX},
    {"fcaps", CA_FORMAT_WITH_FCAPS},
    {"quota-projid", CA_FORMAT_WITH_QUOTA_PROJID},
    /* Sets, as casync defines them. */
    {"best", CA_FORMAT_WITH_BEST},
    {"unix", UINT64_C(0x1f09)},
    {"fat", UINT64_C(0xe0c0)},
    {"chattr", CA_FORMAT_WITH_CHATTR},
    {"fat-attrs", CA_FORMAT_WITH_FAT_ATTRS},
    {"privileged", UINT64_C(0x1ec414407)},
    {"fuse", UINT64_C(0x13fffffb)},
    {"all", CA_FORMAT_WITH_MASK},
};

int ca_feature_flags_from_name(const char *name, uint64_t *ret)
{
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (strcmp(names[i].name, name) == 0) {
                        *ret = names[i].bits;
                        return 0;
                }
        return -EINVAL;
}

const char *ca_feature_flag_name(uint64_t bit)
{
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                if (names[i].bits == bit && (bit & (bit - 1)) == 0)
                        return names[i].name;
        return NULL;
}
