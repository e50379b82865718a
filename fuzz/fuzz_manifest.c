/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An image manifest as it arrives in an image: strict parsing and validation, every accessor
 * fetch, render and `image cat-manifest` use, and the name/label match, which must accept the
 * manifest's own name and labels.
 */
#include "aci/aci.h"
#include "fuzz/fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
        fuzz_log_everything();
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        _cleanup_(aci_manifest_freep) aci_manifest *m = NULL;
        if (aci_manifest_parse((const char *)data, size, "fuzz/manifest", &m) < 0)
                return 0;
        const char *name = aci_manifest_name(m);
        FUZZ_ASSERT(name && dc_identifier_valid(name));
        (void)aci_manifest_ac_version(m);
        size_t n_labels, n, n_deps;
        const aci_label *labels = aci_manifest_labels(m, &n_labels);
        FUZZ_ASSERT(n_labels <= ACI_LABELS_MAX);
        (void)aci_manifest_label(m, "version");
        (void)aci_manifest_annotations(m, &n);
        (void)aci_manifest_annotation(m, "created");
        const aci_dependency *deps = aci_manifest_dependencies(m, &n_deps);
        for (size_t i = 0; i < n_deps; i++)
                FUZZ_ASSERT(dc_identifier_valid(deps[i].image_name));
        (void)aci_manifest_path_whitelist(m, &n);
        (void)aci_manifest_app(m);
        FUZZ_ASSERT(aci_manifest_json(m) != NULL);

        _cleanup_(freep) char *why = NULL;
        FUZZ_ASSERT(aci_manifest_matches(m, name, labels, n_labels, &why) == 1);
        aci_label want[] = {{"version", "1.0.0"}, {"os", "linux"}};
        _cleanup_(freep) char *why2 = NULL;
        (void)aci_manifest_matches(m, "example.com/app", want, ELEMENTSOF(want), &why2);
        return 0;
}
