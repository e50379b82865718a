#!/usr/bin/env python3
# Writes an uncompressed tar (for `umoci raw add-layer`) from a list of entries, one per
# argument, so that the tests can make layers no tool would: whiteouts, hardlinks to files of
# earlier layers, hostile paths.
#   file:PATH[:CONTENT]   dir:PATH   symlink:PATH:TARGET   hardlink:PATH:TARGET
# Usage: make_tar.py OUT ENTRY...
import io
import sys
import tarfile

out = sys.argv[1]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, _, rest = spec.partition(":")
        path, _, arg = rest.partition(":")
        ti = tarfile.TarInfo(path)
        ti.mtime = 1700000000
        ti.uname = ti.gname = ""
        data = None
        if kind == "file":
            data = arg.encode()
            ti.size = len(data)
            ti.mode = 0o644
        elif kind == "dir":
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
        elif kind == "symlink":
            ti.type = tarfile.SYMTYPE
            ti.linkname = arg
            ti.mode = 0o777
        elif kind == "hardlink":
            ti.type = tarfile.LNKTYPE
            ti.linkname = arg
            ti.mode = 0o644
        else:
            sys.exit("unknown entry kind " + kind)
        t.addfile(ti, io.BytesIO(data) if data is not None else None)
