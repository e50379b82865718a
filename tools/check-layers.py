#!/usr/bin/env python3
# Checks the layering of the C sources: a file may include headers of its own folder or of lower
# layers only, never a higher layer's, and no file may include itself through a chain of
# includes (a cycle). Only project includes count: #include "x" that resolves to a file of the
# tree (beside the including file, else from the top of the tree, as the build's -I. does).
#
# Usage: tools/check-layers.sh [TOP]   (TOP: the source tree, default this script's tree)
# Prints one line per offence ("file: #include "x"" and why) and exits 1 if there is any.
#
# LAYERS, lowest first. A file belongs to the entry with the longest matching folder prefix;
# "F/*" matches only the files directly in F/ (not its subfolders).
#   rank    files may include folders of a lower rank, and their own entry's folder; "-" means
#           exempt from the order (tests, benchmarks and fuzz targets may include anything;
#           cycles still count there).
#   extra   folders also allowed although not lower ("-" for none), or, for an entry marked
#           "only:", the complete list of other folders it may include (rank then ignored).
# To add a layer: add a line with its folder and rank (renumber above it if it goes between
# two ranks). Every folder holding C files must be in the table; a file outside them is
# reported, so a new folder cannot slip past the check.
LAYERS = """
# folder              rank  extra
casync/               0     -
discovery/            1     -
aci/openpgp/          2     only:casync/
aci/                  2     aci/openpgp/
fetcher/transfer/     3     -
fetcher/source/       4     -
fetcher/pull/         5     -
fetcher/publish/      5     -
fetcher/mount/        6     -
fetcher/cli/          7     -
tests/                -     -
bench/                -     -
fuzz/                 -     -
"""
# A new folder under fetcher/ matches no entry and is reported until it gets its line.

import os
import re
import subprocess
import sys

SOURCE_EXT = (".c", ".h", ".inc")
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"')


def parse_layers():
    entries = []
    for line in LAYERS.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        folder, rank, extra = line.split()
        flat = folder.endswith("/*")
        if flat:
            folder = folder[:-1]
        only = extra.startswith("only:")
        if only:
            extra = extra[len("only:"):]
        allowed = [] if extra == "-" else extra.split(",")
        entries.append({
            "folder": folder,
            "flat": flat,
            "rank": None if rank == "-" else int(rank),
            "only": only,
            "allowed": allowed,
        })
    # Longest prefix first.
    entries.sort(key=lambda e: -len(e["folder"]))
    return entries


def entry_of(entries, path):
    for e in entries:
        if path.startswith(e["folder"]):
            if e["flat"] and "/" in path[len(e["folder"]):]:
                continue
            return e
    return None


def source_files(top):
    try:
        out = subprocess.run(["git", "-C", top, "ls-files", "-z"], check=True,
                             capture_output=True).stdout.decode()
        files = [f for f in out.split("\0") if f]
    except (OSError, subprocess.CalledProcessError):
        files = []
        for d, subdirs, names in os.walk(top):
            subdirs[:] = [s for s in subdirs if not s.startswith(".") and
                          not os.path.exists(os.path.join(d, s, "build.ninja"))]
            for n in names:
                files.append(os.path.relpath(os.path.join(d, n), top))
    return sorted(f for f in files if f.endswith(SOURCE_EXT) and
                  os.path.isfile(os.path.join(top, f)))


def resolve(top, src, name):
    """The tree path a quoted include names, or None (not a file of the tree)."""
    for base in (os.path.dirname(src), ""):
        p = os.path.normpath(os.path.join(base, name))
        if not p.startswith("..") and os.path.isfile(os.path.join(top, p)):
            return p
    return None


def includes(top, src):
    result = []
    with open(os.path.join(top, src), encoding="utf-8", errors="replace") as f:
        for line in f:
            m = INCLUDE_RE.match(line)
            if m:
                target = resolve(top, src, m.group(1))
                if target is not None:
                    result.append((m.group(1), target))
    return result


def layer_error(entries, src, target):
    se, te = entry_of(entries, src), entry_of(entries, target)
    if se is None:
        return "%s is in no layer of tools/check-layers.sh's table" % os.path.dirname(src)
    if te is None:
        return "%s is in no layer of tools/check-layers.sh's table" % os.path.dirname(target)
    if se["rank"] is None or se is te:
        return None
    if te["folder"] in se["allowed"]:
        return None
    if se["only"]:
        return "%s may include only %s" % (se["folder"], ", ".join(se["allowed"]) or "itself")
    if te["rank"] is None:
        return "%s is not a layer (exempt folders may not be included)" % te["folder"]
    if te["rank"] < se["rank"]:
        return None
    return "%s (layer %d) includes %s (layer %d), not a lower layer" % (
        se["folder"], se["rank"], te["folder"], te["rank"])


def find_cycles(graph):
    """Each elementary cycle found by a depth-first walk, once (rotated to its smallest file)."""
    cycles = set()
    state = {}  # file -> 1 on the current path, 2 done
    path = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                cyc = path[path.index(nxt):]
                i = cyc.index(min(cyc))
                cycles.add(tuple(cyc[i:] + cyc[:i]))
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    sys.setrecursionlimit(max(1000, 4 * len(graph) + 100))
    for node in sorted(graph):
        if node not in state:
            visit(node)
    return sorted(cycles)


def main():
    if len(sys.argv) > 2:
        print("usage: %s [TOP]" % sys.argv[0], file=sys.stderr)
        return 2
    top = sys.argv[1] if len(sys.argv) == 2 else \
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    entries = parse_layers()
    errors = []
    graph = {}
    for src in source_files(top):
        graph[src] = []
        for name, target in includes(top, src):
            graph[src].append(target)
            why = layer_error(entries, src, target)
            if why:
                errors.append('%s: #include "%s": %s' % (src, name, why))
    for cyc in find_cycles(graph):
        errors.append("%s: include cycle: %s" % (cyc[0], " -> ".join(cyc + (cyc[0],))))
    for e in errors:
        print(e)
    if errors:
        print("check-layers: %d problem(s)" % len(errors), file=sys.stderr)
        return 1
    print("check-layers: %d files, layering and includes are acyclic" % len(graph))
    return 0


if __name__ == "__main__":
    sys.exit(main())
