#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (fuzz/corpus/*); deterministic.

    /usr/bin/python3 fuzz/make_seeds.py

kernels/: inputs in fuzz_kernels.c's layout (see decode_case there): a few shapes around the SIMD
widths and the 4096-element chunk, every dtype pair, convention, reduction, and logits with each
special value. Files named finding_* are inputs the fuzzer found, kept as regression seeds. npy/: byte 0 says what the caller accepts (bits 0-3 dtypes f4 i4 i8 f2, bits 4-5
ndim), then a file: valid ones of each version and dtype, and the hostile headers the CLI test
checks by hand (tools/test_cli.sh).
"""
import os
import random
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
SPECIALS = bytes(range(0xF0, 0x100))  # NaN, ±inf, ±0, subnormals, ±1e30, 1e-30, ±FLT_MAX, ...


def kernels_seed(rows, vocab_code, pads, opt, eps, ig, outs, defect, scale, dtypes, targets, logits):
    head = bytes([rows, vocab_code & 0xFF, vocab_code >> 8, pads, opt, eps, ig, outs, defect,
                  scale, dtypes])
    return head + bytes(targets) + bytes(logits)


def kernels_seeds(rng):
    seeds = {}
    plain = lambda n: bytes(rng.randrange(0, 0xF0) for _ in range(n))
    # Small V (1 + code % 300): 1, 7, 16, 17, 33, 64 elements; every dtype pair.
    for i, v in enumerate([1, 7, 16, 17, 33, 64]):
        seeds[f"small_v{v}"] = kernels_seed(3, v - 1, 0x1B, i * 5, 1 + i, 0, 0, 0, 3, i,
                                            [1, 2, 3], plain(3 * v))
    for dt in range(9):
        seeds[f"dtypes_{dt // 3}_{dt % 3}"] = kernels_seed(4, 40, 0x09, 4, 1, 4, 0, 0, 4, dt,
                                                           [0x10, 0xC0, 0x85, 5], plain(200))
    # Every special value at least once, ties, raw bit patterns (0xFE + 4 bytes).
    raw = b"".join(b"\xFE" + struct.pack("<f", f) for f in (3.0e38, -2.5e-42, 7.0, -1e-38))
    seeds["specials"] = kernels_seed(4, 25, 0x12, 13, 1, 0, 0, 0, 5, 0, [1, 2, 3, 4],
                                     SPECIALS + raw + SPECIALS[::-1] + plain(40))
    seeds["neginf_masked"] = kernels_seed(2, 63, 0, 2, 3, 0, 0, 0, 3, 0, [5, 6],
                                          b"\xF2" * 30 + plain(34) + b"\xF2" * 64)
    seeds["ties"] = kernels_seed(2, 47, 0, 0, 0, 0, 0, 0, 3, 4, [3, 40],
                                 b"\x90" + b"\xFC" * 47 + b"\x70" + b"\xFD" * 47)
    # Around the chunk (4096 − 40 + code % 80), two rows; and twice the chunk, one row.
    # Three equal maxima at 1e30 (tests/oracle.c alone gets p = 1 there, see fuzz/reference.h).
    seeds["equal_maxima_1e30"] = kernels_seed(1, 15, 0, 0, 0, 0, 0, 0, 3, 0, [10],
                                              plain(7) + b"\xF7\xFC\xFC" + plain(6))
    seeds["chunk_4096"] = kernels_seed(2, 0x8000 | 40, 0x3F, 7, 130, 4, 0, 0, 6, 0, [7, 0x8F],
                                       plain(600))
    seeds["chunk_8192"] = kernels_seed(1, 0xC000 | 41, 0x05, 16, 200, 0, 0, 0, 6, 8, [0x81],
                                       plain(300))
    # Each defect once (byte 8 ≥ 0xA0 selects one).
    for d in range(10):
        seeds[f"defect_{d + 1}"] = kernels_seed(3, 20, 0x09, 1, 1, 0, 0, 0xA0 + d, 3, d % 9,
                                                [1, 2, 3], plain(63))
    return seeds


def npy_file(descr, shape, version=1, fortran=False, data=None, dict_text=None):
    shape_text = "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"
    text = dict_text or ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
                         % (descr, "True" if fortran else "False", shape_text))
    fixed = 10 if version == 1 else 12
    total = (fixed + len(text) + 1 + 63) // 64 * 64
    header = text + " " * (total - fixed - len(text) - 1) + "\n"
    length = struct.pack("<H" if version == 1 else "<I", len(header))
    if data is None:
        count = 1
        for d in shape:
            count *= d
        data = bytes(count * {"<f4": 4, "<i4": 4, "<i8": 8, "<f2": 2}.get(descr, 4))
    return b"\x93NUMPY" + bytes([version, 0]) + length + header.encode() + data


def npy_seeds():
    f4, i4, i8, f2 = 1, 2, 4, 8
    sel = lambda dtypes, ndim: bytes([dtypes | ndim << 4])
    return {
        "f4_2d_v1": sel(f4, 2) + npy_file("<f4", (3, 5)),
        "f4_2d_v2": sel(f4, 2) + npy_file("<f4", (2, 3), version=2),
        "f4_2d_v3": sel(f4 | f2, 2) + npy_file("<f4", (1, 4), version=3),
        "f2_2d": sel(f4 | f2, 2) + npy_file("<f2", (2, 2)),
        "i8_1d": sel(i8 | i4, 1) + npy_file("<i8", (4,)),
        "i4_1d": sel(i8 | i4, 1) + npy_file("<i4", (3,)),
        "empty_0x50": sel(f4, 2) + npy_file("<f4", (0, 50)),
        "scalar_0d": sel(f4, 0) + npy_file("<f4", ()),
        "fortran_1d": sel(i8, 1) + npy_file("<i8", (2,), fortran=True),
        "reordered_keys": sel(f4, 2) + npy_file(
            "<f4", (2, 2), dict_text="{ \"shape\" :( 2 ,2, ) ,\n\t'fortran_order':False , "
                                     "'descr' : \"<f4\"}  "),
        "truncated_data": sel(f4, 2) + npy_file("<f4", (2, 2))[:-3],
        "trailing_bytes": sel(f4, 2) + npy_file("<f4", (1, 1)) + b"\0\0",
        "size_overflow": sel(f4, 2) + npy_file("<f4", (4611686018427387904, 4611686018427387904),
                                               data=b""),
        "big_endian": sel(f4, 2) + npy_file(">f4", (1, 2)),
        "huge_header_len": sel(f4, 2) + b"\x93NUMPY\x02\x00\xa0\x86\x01\x00{'descr'",
        "version_4": sel(f4, 2) + b"\x93NUMPY\x04\x00" + npy_file("<f4", (1, 1))[8:],
        "not_a_tuple": sel(i8, 1) + npy_file("<i8", (1,), dict_text=(
            "{'descr': '<i8', 'fortran_order': False, 'shape': (1)}")),
        "long_i64_dims": sel(f4, 2) + npy_file("<f4", (0, 99999999999999999999 // 10)),
    }


def write(kind, seeds):
    """Writes (over) the generated seeds; other files there (findings, kept as found) stay."""
    out = os.path.join(HERE, "corpus", kind)
    os.makedirs(out, exist_ok=True)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    write("kernels", kernels_seeds(random.Random(20261129)))
    write("npy", npy_seeds())
