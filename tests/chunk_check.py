#!/usr/bin/python3
"""Chunk checks for the shell tests, one process instead of several per chunk.

  chunk_check.py store DIR         each file under DIR/chunks that is not ID.cacnk in its XXXX/
                                   directory, decompressing (Debian's zstd) to data whose
                                   SHA-512/256 is ID: "left over: F", "misplaced: F",
                                   "damaged: F". Prints nothing for a sound store.
  chunk_check.py still-valid DATA INDEX
                                   the distinct IDs of the casync INDEX whose byte range in DATA
                                   (a .catar or a blob) still hashes to the ID, sorted.

The index is read by offset arithmetic from casync's layout (items from byte 64, each an 8-byte
little-endian end offset and a 32-byte ID, a 40-byte tail), not by acfetch's own reader.
"""
import hashlib
import os
import subprocess
import sys
import tempfile


def digest(data):
    return hashlib.new("sha512_256", data).hexdigest()


def store(top):
    chunks = os.path.join(top, "chunks")
    found = []  # (path, ID)
    for root, _dirs, files in os.walk(chunks):
        for name in sorted(files):
            path = os.path.join(root, name)
            if not name.endswith(".cacnk"):
                print("left over: " + path)
                continue
            cid = name[: -len(".cacnk")]
            if os.path.basename(root) != cid[:4]:
                print("misplaced: " + path)
            found.append((path, cid))
    # One zstd for all chunks (a process per chunk takes minutes on a busy machine): each file
    # gets a numbered .zst link, and zstd decompresses them all into one flat directory.
    with tempfile.TemporaryDirectory() as tmp:
        os.mkdir(os.path.join(tmp, "in"))
        os.mkdir(os.path.join(tmp, "out"))
        links = []
        for i, (path, _cid) in enumerate(found):
            link = os.path.join(tmp, "in", "%d.zst" % i)
            os.symlink(os.path.abspath(path), link)
            links.append(link)
        if links:
            subprocess.run(["zstd", "-dqf", "--output-dir-flat", os.path.join(tmp, "out")] + links,
                           stderr=subprocess.DEVNULL)
        for i, (path, cid) in enumerate(found):
            try:
                with open(os.path.join(tmp, "out", str(i)), "rb") as f:
                    ok = digest(f.read()) == cid
            except FileNotFoundError:
                ok = False  # zstd could not decompress it
            if not ok:
                print("damaged: " + path)


def still_valid(data_path, index_path):
    with open(index_path, "rb") as f:
        index = f.read()
    with open(data_path, "rb") as f:
        data = f.read()
    n = (len(index) - 104) // 40
    start, valid = 0, set()
    for i in range(max(n, 0)):
        item = index[64 + 40 * i : 64 + 40 * (i + 1)]
        end = int.from_bytes(item[:8], "little")
        cid = item[8:].hex()
        if digest(data[start:end]) == cid:
            valid.add(cid)
        start = end
    for cid in sorted(valid):
        print(cid)


def main(argv):
    if len(argv) == 3 and argv[1] == "store":
        store(argv[2])
    elif len(argv) == 4 and argv[1] == "still-valid":
        still_valid(argv[2], argv[3])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
