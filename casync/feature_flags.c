/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* casync writes feature flags in one normal form; readers reject any other spelling. */
#include "casync/casync.h"

uint64_t ca_feature_flags_normalize(uint64_t f)
{
        if ((f & CA_FORMAT_WITH_ACL) &&
            !(f & (CA_FORMAT_WITH_UID_MASK | CA_FORMAT_WITH_USER_NAMES)))
                f |= CA_FORMAT_WITH_32BIT_UIDS | CA_FORMAT_WITH_USER_NAMES;
        if (f & CA_FORMAT_WITH_32BIT_UIDS)
                f &= ~CA_FORMAT_WITH_16BIT_UIDS;
        if (f & CA_FORMAT_WITH_NSEC_TIME)
                f &= ~(CA_FORMAT_WITH_USEC_TIME | CA_FORMAT_WITH_SEC_TIME |
                       CA_FORMAT_WITH_2SEC_TIME);
        if (f & CA_FORMAT_WITH_USEC_TIME)
                f &= ~(CA_FORMAT_WITH_SEC_TIME | CA_FORMAT_WITH_2SEC_TIME);
        if (f & CA_FORMAT_WITH_SEC_TIME)
                f &= ~CA_FORMAT_WITH_2SEC_TIME;
        if (f & CA_FORMAT_WITH_ACL)
                f &= ~(CA_FORMAT_WITH_PERMISSIONS | CA_FORMAT_WITH_READ_ONLY);
        if (f & CA_FORMAT_WITH_PERMISSIONS)
                f &= ~CA_FORMAT_WITH_READ_ONLY;
        if (f & CA_FORMAT_EXCLUDE_NODUMP)
                f &= ~CA_FORMAT_WITH_FLAG_NODUMP;
        if (f & CA_FORMAT_WITH_SUBVOLUME_RO)
                f |= CA_FORMAT_WITH_SUBVOLUME;
        return f;
}

bool ca_feature_flags_are_normalized(uint64_t flags)
{
        if (flags == UINT64_MAX || (flags & ~CA_FORMAT_FEATURE_FLAGS_MAX))
                return false;
        return ca_feature_flags_normalize(flags) == flags;
}

uint64_t ca_feature_flags_time_granularity(uint64_t flags)
{
        if (flags & CA_FORMAT_WITH_NSEC_TIME)
                return 1;
        if (flags & CA_FORMAT_WITH_USEC_TIME)
                return 1000;
        if (flags & CA_FORMAT_WITH_SEC_TIME)
                return 1000000000;
        if (flags & CA_FORMAT_WITH_2SEC_TIME)
                return 2000000000;
        return 0;
}
