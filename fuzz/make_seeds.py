#!/usr/bin/env python3
"""Writes the committed seed corpus of the fuzz targets (fuzz/corpus/*); deterministic.

    /usr/bin/python3 fuzz/make_seeds.py

kernels/: inputs in fuzz_kernels.c's layout (see decode_case there): a few shapes around the SIMD
widths and the 4096-element chunk, every dtype pair, convention, reduction, and logits with each
special value. Files named finding_* are inputs the fuzzer found, kept as regression seeds. options/: inputs in
fuzz_options.c's layout: each objective option alone (several values each, tiny and huge), all of
them at once per dtype pair, around the SIMD widths and the chunk, hostile logits, −inf at the
zero-weight classes, and each invalid option value. npy/: byte 0 says what the caller accepts
(bits 0-3 dtypes f4 i4 i8 f2, bits 4-5 ndim), then a file: valid ones of each version and dtype,
and the hostile headers the CLI test checks by hand (tools/test_cli.sh).
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


def options_seed(rows, vocab_code, targets, logits, pads=0, opt=0, eps=1, ig=0, dtypes=0, mag=3,
                 on=0, cw=0, prior=0, rw=0, z=0, s=0, c=0, beta=0, bins=0, invalid=0):
    head = bytes([rows, vocab_code & 0xFF, vocab_code >> 8, pads, opt, eps, ig, dtypes, mag, on,
                  cw, prior, rw, z, s, c, beta, bins, invalid])
    return head + bytes(targets) + bytes(logits)


# fuzz_options.c's option mask (byte 9)
CW, PRIOR, RW, Z, S, C, BETA, BINS = (1 << i for i in range(8))
ALL = 0xFF


def options_seeds(rng):
    seeds = {}
    plain = lambda n: bytes(rng.randrange(0, 0xF0) for _ in range(n))
    t3 = [1, 0x85, 3]  # three kept rows, one far class, grad_output 1, 1, 1
    # Nothing on (the plain sweeps through the options target), then each option alone.
    seeds["plain"] = options_seed(3, 32, t3, plain(99))
    for style in (1, 0x0A, 0x2A, 0x1D, 0x13):  # random, half zeros, half zeros −inf, 15/16 zeros
        seeds[f"class_weight_{style:02x}"] = options_seed(3, 40, t3, plain(123), on=CW, cw=style,
                                                          eps=3)
    for fam in range(8):  # uniform, random, zeros, one-hot, two, Zipf, tiny, sum off by 5e-5
        seeds[f"prior_{fam}"] = options_seed(2, 16 + fam, [2, 0x8A], plain(50), on=PRIOR,
                                             prior=fam | (0x28 if fam == 2 else 0), eps=1 + fam % 4,
                                             opt=9 * (fam & 1))
    seeds["row_weight_zeros"] = options_seed(6, 20, [1, 2, 3, 4, 5, 6], plain(126), on=RW,
                                             rw=0x0A, opt=3)
    for i, zb in enumerate((3, 4, 6, 7)):  # z = 1, 10, 1e-30, 1e3
        seeds[f"z_loss_{i}"] = options_seed(3, 24, t3, plain(75), on=Z, z=zb, opt=i % 3 * 3)
    for i, sb in enumerate((0, 3, 5, 6, 0x90)):  # 2, 1e-3, 1e-30, 1e20, 1.05
        seeds[f"logit_scale_{i}"] = options_seed(3, 36, t3, plain(111), on=S, s=sb)
    for i, cb in enumerate((0, 5, 6, 7, 0x83)):  # 30, 1e-3, 1e-30, 1e30, 3.5
        seeds[f"softcap_{i}"] = options_seed(3, 17, t3, plain(18) + SPECIALS + plain(20), on=C | S,
                                             c=cb, s=i, mag=8 + i % 3)
    for i, bb in enumerate((2, 5, 6, 0x81)):  # 1, 10, 100, 1/32
        seeds[f"confidence_penalty_{i}"] = options_seed(3, 48, t3, plain(150), on=BETA, beta=bb,
                                                        eps=i)
    for i, nb in enumerate((0, 2, 5, 0x8F)):  # 1, 10, 1000, 106 bins
        seeds[f"calibration_{i}"] = options_seed(8, 30, [1, 2, 3, 4, 5, 6, 7, 0xC0],
                                                 b"\xA0" + plain(250), on=BINS, bins=nb)
    # Everything at once: small V, each dtype pair, around the vector widths, the chunk.
    for dt in range(9):
        seeds[f"all_dtypes_{dt // 3}_{dt % 3}"] = options_seed(
            4, 40, [0x10, 0xC0, 0x85, 5], plain(170), pads=0x09, opt=4 + 9 * (dt & 1), eps=3,
            ig=4, dtypes=dt, on=ALL, cw=0x0B, prior=0x0A, rw=0x01, z=1, s=0x90, c=0, beta=0,
            bins=2)
    for v in (1, 7, 16, 17, 65):
        seeds[f"all_v{v}"] = options_seed(2, v - 1, [0, 0x80 | (v - 1)], plain(2 * v), on=ALL,
                                          cw=2, prior=5, rw=1, z=2, s=1, c=2, beta=1, bins=3,
                                          opt=v % 9, eps=v)
    seeds["all_chunk_4096"] = options_seed(2, 0x8000 | 40, [7, 0x8F], plain(500), pads=0x3F, on=ALL,
                                           cw=1, prior=1, rw=1, z=0, s=0, c=0, beta=1, bins=2,
                                           eps=130)
    seeds["all_chunk_8192"] = options_seed(1, 0xC000 | 41, [0x81], plain(300), on=ALL & ~PRIOR,
                                           cw=0x09, rw=1, z=2, s=0x88, c=1, beta=0, bins=4, opt=16,
                                           dtypes=8)
    seeds["softcap_chunk_4096"] = options_seed(1, 0x8000 | 50, [3], plain(400), on=C | BETA, c=3,
                                               beta=2, dtypes=4)
    # Hostile logits under every option; −inf at the zero-weight classes; "others" at ε = 1.
    raw = b"".join(b"\xFE" + struct.pack("<f", f) for f in (3.0e38, -2.5e-42, 7.0, -1e-38))
    seeds["all_specials"] = options_seed(4, 25, [1, 2, 3, 4], SPECIALS + raw + SPECIALS[::-1] +
                                         plain(40), on=ALL, cw=0x0B, prior=0x02, rw=6, z=1, s=1,
                                         c=0, beta=2, bins=3, eps=1)
    seeds["neginf_zero_weights"] = options_seed(3, 50, t3, plain(153), on=CW | PRIOR | BETA | Z,
                                                cw=0x2A, prior=0x2A, beta=2, z=0, eps=3, opt=9)
    seeds["others_eps1_weights"] = options_seed(3, 9, t3, plain(30), on=CW | RW, cw=1, rw=1,
                                                opt=1 + 9, eps=2)
    seeds["none_grad_output"] = options_seed(5, 60, [0x00, 0x08, 0x10, 0x18, 0x20], plain(305),
                                             opt=6, ig=4, on=RW | Z | BETA, rw=0x09, z=2, beta=0)
    # Each invalid option value once (byte 18 ≥ 0xA0), some variations.
    for k in range(15):
        for sub in (0, 1) if k < 2 else (0,):
            seeds[f"invalid_{k}_{sub}"] = options_seed(3, 20, t3, plain(63), on=ALL & ~PRIOR,
                                                       cw=1, rw=1, z=1, s=0, c=0, beta=0, bins=0,
                                                       invalid=0xA0 + k + 15 * sub, dtypes=k % 9)
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
    write("options", options_seeds(random.Random(20261130)))
    write("npy", npy_seeds())
