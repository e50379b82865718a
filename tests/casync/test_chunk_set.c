/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Chunk ID sets: duplicates collapse, order is by ID, membership by bisection. */
#include <stdio.h>
#include <string.h>

#include "casync/casync.h"
#include "tests/test.h"

static ca_chunk_id id_of(unsigned v)
{
        ca_chunk_id id = {};
        id.bytes[0] = (uint8_t)(v >> 8);
        id.bytes[1] = (uint8_t)v;
        id.bytes[31] = 0x5a;
        return id;
}

static void test_empty(void)
{
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *s = NULL;
        CHECK_EQ_INT(ca_chunk_set_new(&s), 0);
        ca_chunk_set_sort(s);
        ca_chunk_id id = id_of(1);
        CHECK_EQ_INT(ca_chunk_set_count(s), 0);
        CHECK(!ca_chunk_set_contains(s, &id));
        CHECK(ca_chunk_set_find(s, &id) == -1);
        CHECK(ca_chunk_set_get(s, 0) == NULL);
}

static void test_add_sort(void)
{
        _cleanup_(ca_chunk_set_freep) ca_chunk_set *s = NULL;
        CHECK_EQ_INT(ca_chunk_set_new(&s), 0);
        /* 1000 IDs, each added three times, in a scrambled order. */
        for (unsigned round = 0; round < 3; round++)
                for (unsigned i = 0; i < 1000; i++) {
                        ca_chunk_id id = id_of((i * 7919u + round) % 1000u * 2u);
                        CHECK_EQ_INT(ca_chunk_set_add(s, &id), 0);
                }
        CHECK_EQ_INT(ca_chunk_set_count(s), 3000);
        ca_chunk_set_sort(s);
        CHECK_EQ_INT(ca_chunk_set_count(s), 1000);
        for (size_t i = 0; i < ca_chunk_set_count(s); i++) {
                ca_chunk_id want = id_of((unsigned)i * 2u);
                CHECK(memcmp(ca_chunk_set_get(s, i), &want, sizeof(want)) == 0);
                CHECK(ca_chunk_set_find(s, &want) == (ssize_t)i);
                ca_chunk_id odd = id_of((unsigned)i * 2u + 1u);
                CHECK(!ca_chunk_set_contains(s, &odd));
        }
        CHECK(ca_chunk_set_get(s, 1000) == NULL);
        /* Sorting again changes nothing. */
        ca_chunk_set_sort(s);
        CHECK_EQ_INT(ca_chunk_set_count(s), 1000);
}

static void test_add_index(void)
{
        ca_index_item items[5];
        const unsigned ids[] = {9, 3, 9, 4, 3};
        for (size_t i = 0; i < 5; i++)
                items[i] = (ca_index_item){.offset = i * 10, .size = 10, .id = id_of(ids[i])};
        ca_index idx = {.n_items = 5, .items = items, .total_size = 50};

        _cleanup_(ca_chunk_set_freep) ca_chunk_set *s = NULL;
        CHECK_EQ_INT(ca_chunk_set_new(&s), 0);
        ca_chunk_id extra = id_of(1);
        CHECK_EQ_INT(ca_chunk_set_add(s, &extra), 0);
        CHECK_EQ_INT(ca_chunk_set_add_index(s, &idx), 0);
        ca_chunk_set_sort(s);
        CHECK_EQ_INT(ca_chunk_set_count(s), 4);
        const unsigned want[] = {1, 3, 4, 9};
        for (size_t i = 0; i < 4; i++) {
                ca_chunk_id w = id_of(want[i]);
                CHECK(memcmp(ca_chunk_set_get(s, i), &w, sizeof(w)) == 0);
        }
        ca_chunk_id absent = id_of(5);
        CHECK(!ca_chunk_set_contains(s, &absent));
}

int main(void)
{
        test_empty();
        test_add_sort();
        test_add_index();
        printf("test_chunk_set: all checks passed\n");
        return 0;
}
