/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The index reader (.caidx/.caibx), as fetch, extract and mount read a downloaded index: parse,
 * then the chunk set the store and gc build from it; a parsed index must serialize to an index
 * that parses back to the same items. */
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(ca_index_freep) ca_index *index = NULL;
        if (ca_index_parse(data, size, "fuzz.caidx", &index) < 0)
                return 0;
        FUZZ_ASSERT(index->n_items <= CA_INDEX_ITEMS_MAX);

        _cleanup_(ca_chunk_set_freep) ca_chunk_set *set = NULL;
        if (ca_chunk_set_new(&set) == 0 && ca_chunk_set_add_index(set, index) == 0) {
                ca_chunk_set_sort(set);
                for (size_t i = 0; i < index->n_items; i++)
                        FUZZ_ASSERT(ca_chunk_set_contains(set, &index->items[i].id));
        }

        _cleanup_(freep) void *bytes = NULL;
        size_t n;
        if (ca_index_serialize(index, &bytes, &n) < 0)
                return 0;
        _cleanup_(ca_index_freep) ca_index *again = NULL;
        FUZZ_ASSERT(ca_index_parse(bytes, n, "fuzz.caidx (serialized)", &again) == 0);
        FUZZ_ASSERT(again->n_items == index->n_items);
        FUZZ_ASSERT(again->total_size == index->total_size);
        FUZZ_ASSERT(again->feature_flags == index->feature_flags);
        FUZZ_ASSERT(index->n_items == 0 || memcmp(again->items, index->items,
                                                  index->n_items * sizeof(ca_index_item)) == 0);
        return 0;
}
