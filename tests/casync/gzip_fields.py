#!/usr/bin/env python3
# Writes IN as one gzip member whose header has every optional field RFC 1952 defines: FEXTRA
# (one subfield), FNAME, FCOMMENT and FHCRC, the header's CRC-16, XORed with HCRC_XOR when given
# (non-zero: a wrong one). No common tool writes all of them; readers must still take them.
# Usage: gzip_fields.py IN OUT [HCRC_XOR]
import struct
import sys
import zlib

data = open(sys.argv[1], "rb").read()
flip = int(sys.argv[3]) if len(sys.argv) > 3 else 0
c = zlib.compressobj(9, zlib.DEFLATED, -15)
body = c.compress(data) + c.flush()
header = bytearray(b"\x1f\x8b\x08\x1e\0\0\0\0\0\xff")  # deflate; FHCRC FEXTRA FNAME FCOMMENT
header += struct.pack("<H", 7) + b"AB\x03\0xyz"  # one subfield "AB" of 3 bytes
header += b"layer.tar\0" + b"a comment\0"
header += struct.pack("<H", (zlib.crc32(bytes(header)) & 0xFFFF) ^ flip)
trailer = struct.pack("<II", zlib.crc32(data), len(data) & 0xFFFFFFFF)
open(sys.argv[2], "wb").write(bytes(header) + body + trailer)
