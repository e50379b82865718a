/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The streaming catar decoder, as fetch, extract and mtree run it on an assembled archive:
 * first with no sink at all (the decoder's own checks), then with the sinks fetch and mtree
 * use on remote data — mtree's printer, the canonical tar writer (the image ID's input) and the
 * ACI layout check, whose manifest goes to the manifest parser — fed in uneven pieces, since
 * chunks split records anywhere. Both runs must agree on whether the archive is valid.
 */
#include "aci/aci.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

static int discard(void *userdata, const void *data, size_t size)
{
        return 0;
}

static int decode(const ca_sink *sink, const uint8_t *data, size_t size, size_t piece)
{
        _cleanup_(ca_decoder_freep) ca_decoder *d = NULL;
        int r = ca_decoder_new(sink, UINT64_MAX, "fuzz.catar", &d);
        if (r < 0)
                return r;
        for (size_t o = 0; o < size; o += piece) {
                r = ca_decoder_feed(d, data + o, MIN(piece, size - o));
                if (r < 0)
                        return r;
        }
        r = ca_decoder_finish(d);
        FUZZ_ASSERT(r < 0 || ca_decoder_offset(d) == size);
        return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        ca_sink none = {0};
        int plain = decode(&none, data, size, MAX(size, (size_t)1));

        ca_digest_type digest = ca_digest_type_from_flags(fuzz_catar_flags(data, size));
        ca_mtree *mtree = NULL;
        ca_sink mtree_sink, tar_sink, layout_sink, tee1_sink, tee2_sink;
        if (ca_mtree_new(fuzz_devnull(), digest, &mtree, &mtree_sink) < 0)
                return 0;
        _cleanup_(ca_tar_freep) ca_tar *tar = NULL;
        _cleanup_(aci_layout_freep) aci_layout *layout = NULL;
        if (ca_tar_new(discard, NULL, &tar, &tar_sink) < 0 ||
            aci_layout_new("fuzz.catar", &layout, &layout_sink) < 0) {
                ca_mtree_free(mtree);
                return 0;
        }
        ca_tee tee1, tee2;
        ca_tee_init(&tee1, &mtree_sink, &tar_sink, &tee1_sink);
        ca_tee_init(&tee2, &tee1_sink, &layout_sink, &tee2_sink);
        /* Pieces of 1 to 61 bytes, by the input's size: every split is tried across inputs. */
        int sinks = decode(&tee2_sink, data, size, size % 61 + 1);
        ca_mtree_free(mtree);
        /* The sinks may refuse more (not an ACI), never less. */
        FUZZ_ASSERT(plain == 0 || sinks < 0);

        size_t msize;
        const char *manifest = aci_layout_manifest(layout, &msize);
        if (sinks == 0 && manifest) {
                _cleanup_(aci_manifest_freep) aci_manifest *m = NULL;
                (void)aci_manifest_parse(manifest, msize, "fuzz.catar/manifest", &m);
        }
        return 0;
}
