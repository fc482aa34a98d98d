#!/usr/bin/env python3
"""Golden vectors for lsce with bf16 and fp16 logits, from PyTorch.

Run with Debian's interpreter (the `python3` first on PATH is a separate build without torch):

    /usr/bin/python3 tests/gen_golden_half.py    # writes tests/golden_half/golden.bin + cases.txt

Deterministic (torch.manual_seed, one thread); re-running rewrites byte-identical files.

Every ordinary case draws fp32 logits x32, rounds them with PyTorch, `x16 = x32.to(torch.bfloat16)`
or `x32.to(torch.float16)`, and computes every output in float64 from the exact upcast
`x16.double()` with tests/gen_golden.py's `compute` (F.cross_entropy itself for the uniform
convention without KL, explicit torch code otherwise; autograd gradients). Stored besides: the
16-bit bits of x16, and PyTorch's own rounding of the float64 gradient, `grad.to(torch.bfloat16)`
and `grad.to(torch.float16)`. (PyTorch 1.13 rounds float64 → bf16 / fp16 through fp32 — a double
rounding that can differ from rounding the float64 value directly by one ulp, e.g. 1 + 2^-8 +
2^-40 → bf16 1.0; tests/golden_half.c accepts either and counts them.)

Two conversion-table cases (flag 4, no library call) hold probe values around the ties, the
subnormal range, the overflow threshold and NaN: fp32 values (the `logits` slot) with PyTorch's
conversion to the case's dtype (`logits16`), and float64 values (the `grad` slot) with PyTorch's
conversion to bf16 and fp16.

Format: tests/golden/README.md's version-1 case, then (version 2) per case
    int64  logits_dtype                        1 bf16, 2 f16 (lsce_dtype)
    uint16 logits16[rows*vocab]                x32.to(dtype) bits: the logits lsce is given
    uint16 grad_bf16[rows*vocab]               grad.to(torch.bfloat16) bits
    uint16 grad_f16[rows*vocab]                grad.to(torch.float16) bits
where the version-1 `logits` slot holds x32 (before rounding) and every version-1 output is that
of the upcast x16. See tests/golden_half/README.md.
"""
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_golden as g  # noqa: E402  (compute, write_fields)
import golden_writer as gw  # noqa: E402  (constants, targets, logits, the writer)

OUT_DIR = os.path.join(HERE, "golden_half")
BF16, F16 = 1, 2
TORCH_DT = {BF16: torch.bfloat16, F16: torch.float16}
DT_NAME = {BF16: "bf16", F16: "f16"}
FLAG_CONVERSION_TABLE = 4

CASES = []


def bits16(t):
    """uint16 numpy array of a bf16 / fp16 tensor's bits."""
    return t.contiguous().view(torch.int16).numpy().astype(np.uint16)


def case(name, dt, x32, y, eps=0.0, conv=gw.UNIFORM, kl=0, ii=-100, red=gw.MEAN, go=None):
    x32, y, go = gw.case_inputs(name, x32, y, ii, red, go)
    x16 = x32.to(TORCH_DT[dt])
    r = g.compute(x16.float(), y, eps, conv, kl, ii, red, go)  # float64 from the exact upcast
    name = f"{DT_NAME[dt]}_{name}"
    assert len(name) < 48, name
    CASES.append(dict(name=name, dt=dt, x=x32, x16=bits16(x16), y=y, eps=eps, conv=conv, kl=kl,
                      ii=ii, red=red, go=go,
                      grad_bf16=bits16(r["grad"].to(torch.bfloat16)),
                      grad_f16=bits16(r["grad"].to(torch.float16)), **r))


def f32(bits):
    return np.array(bits, dtype=np.uint32).view(np.float32)


def table(dt):
    """A conversion-table case: fp32 and float64 probes with PyTorch's 16-bit roundings."""
    p, emin, emax = (8, -126, 127) if dt == BF16 else (11, -14, 15)
    vals32, vals64 = [], []
    gen = torch.Generator().manual_seed(7 + dt)
    for e in list(range(emin - 2, emin + 3)) + list(range(emin + 3, emax - 2, 9 if dt == F16 else 29)) + \
            list(range(emax - 2, emax + 1)):
        es = max(e, emin)
        for _ in range(3):
            top = 0 if e < emin else 1 << (p - 1)
            for odd in (0, 1):
                m = top + int(torch.randint(0, 1 << (p - 1), (1,), generator=gen))
                m += (m & 1) != odd
                v = m * 2.0 ** (es - (p - 1))
                half = 2.0 ** (es - p)
                tie = v + half
                if tie + half > 3.4e38:
                    continue
                t32 = np.float32(tie)
                assert float(t32) == tie
                up, down = np.nextafter(t32, np.float32(np.inf)), np.nextafter(t32, np.float32(0))
                for q in (np.float32(v), t32, up, down):
                    vals32 += [q, -q]
                # float64: exact ties, a hair either side (rounding through fp32 turns the hair
                # into an exact tie: the double-rounding trap), the tie ± an fp32 ulp
                hair = tie * 2.0 ** -40
                vals64 += [v, tie, tie + hair, tie - hair, -(tie + hair), float(up), float(down)]
    specials32 = [0x00000000, 0x80000000, 0x00000001, 0x00008000, 0x00018000, 0x007fffff,
                  0x00800000, 0x7f7f7fff, 0x7f7f8000, 0x7f7fffff, 0xff7f8000, 0x477fefff,
                  0x477ff000, 0xc77ff000, 0x47800000, 0x33000000, 0x33000001, 0x33400000,
                  0x33c00000, 0x387fe000, 0x387ff000, 0x38800000, 0x7f800000, 0xff800000,
                  0x7fc00000, 0xffc00000, 0x7fa12345, 0x7f800001]
    vals32 += list(f32(specials32))
    vals32 += list(f32(torch.randint(0, 2 ** 31 - 1, (60,), generator=gen).numpy() * 2 + 1))
    vals64 += [65504.0, 65519.999, 65520.0, 65536.0, 3.3895313892515355e38, 3.4e38, 1e300,
               -1e300, 2.0 ** -25, 2.0 ** -25 * (1 + 2.0 ** -30), 2.0 ** -134,
               2.0 ** -134 * (1 + 2.0 ** -30), 1e-300, 0.0, -0.0, float("inf"), float("-inf"),
               float("nan")]
    vals64 += list((torch.randn(60, generator=gen, dtype=torch.float64) *
                    10.0 ** torch.randint(-8, 6, (60,), generator=gen)).numpy())
    n = max(len(vals32), len(vals64))
    vals32 = (vals32 * (n // len(vals32) + 1))[:n]
    vals64 = (vals64 * (n // len(vals64) + 1))[:n]
    x32 = torch.from_numpy(np.array(vals32, dtype=np.float32)).reshape(1, n)
    g64 = torch.from_numpy(np.array(vals64, dtype=np.float64)).reshape(1, n)
    z = torch.zeros(1, dtype=torch.float64)
    CASES.append(dict(name=f"{DT_NAME[dt]}_conversion_table", dt=dt, x=x32,
                      x16=bits16(x32.to(TORCH_DT[dt])), y=torch.zeros(1, dtype=torch.int64),
                      eps=0.0, conv=gw.UNIFORM, kl=0, ii=-100, red=gw.SUM, go=None,
                      grad_bf16=bits16(g64.to(torch.bfloat16)),
                      grad_f16=bits16(g64.to(torch.float16)), loss=0.0, row_loss=z, nll=z,
                      lse=z, argmax=torch.zeros(1, dtype=torch.int64), grad=g64,
                      flags=FLAG_CONVERSION_TABLE))


def confident_logits(N, V, ys, ps):
    """Rows whose target has probability ~p (before the 16-bit rounding): others ~ N(0, 0.05²)."""
    x = torch.randn(N, V) * 0.05
    for r, (y, p) in enumerate(zip(ys, ps)):
        others = torch.exp(x[r].double()).sum() - torch.exp(x[r, y].double())
        x[r, y] = float(torch.log(p / (1 - p) * others))
    return x


def build():
    torch.manual_seed(20261129)
    epss = [0.0, 0.1, 0.3, 1.0]
    reds = [gw.MEAN, gw.SUM, gw.NONE]
    for dt in (BF16, F16):
        table(dt)
        # F.cross_entropy (uniform): V in {7, 33}, every eps, reductions and ignore_index rotating.
        k = 0
        for V, N in [(7, 8), (33, 5)]:
            for eps in epss:
                red = reds[k % 3]
                ii = -100 if k % 2 == 0 else 0
                case(f"ce_V{V}_e{eps}_{gw.RED_NAME[red]}_ii{ii}", dt,
                     gw.logits(N, V, [0.5, 2.0, 8.0][k % 3]), gw.targets(N, V, ii), eps=eps, ii=ii,
                     red=red)
                k += 1
        case("ce_V100_e0.1_sum", dt, gw.logits(3, 100, 3.0), gw.targets(3, 100, -100), eps=0.1,
             red=gw.SUM)
        case("ce_V1000_e0.1_mean", dt, gw.logits(1, 1000, 2.0), [999], eps=0.1, red=gw.MEAN)
        # grad_output: per row (none) and a scalar (mean).
        case("ce_V7_e0.1_none_go_vector", dt, gw.logits(6, 7, 2.0), gw.targets(6, 7, -100),
             eps=0.1, red=gw.NONE, go=torch.randn(6))
        case("ce_V33_e0.3_mean_go_scalar", dt, gw.logits(4, 33, 2.0), gw.targets(4, 33, -100),
             eps=0.3, red=gw.MEAN, go=[0.37])
        # The other conventions and KL (explicit torch).
        case("others_kl0_V7_e0.1_sum_ii0", dt, gw.logits(6, 7, 2.0), gw.targets(6, 7, 0), eps=0.1,
             conv=gw.OTHERS, ii=0, red=gw.SUM)
        case("others_kl1_V33_e0.3_none", dt, gw.logits(4, 33, 2.0), gw.targets(4, 33, -100),
             eps=0.3, conv=gw.OTHERS, kl=1, red=gw.NONE)
        case("seed_kl1_V33_e0.1_mean_ii0", dt, gw.logits(5, 33, 2.0), gw.targets(5, 33, 0),
             eps=0.1, conv=gw.SEED, kl=1, ii=0, red=gw.MEAN)
        case("uniform_kl1_V7_e0.3_sum", dt, gw.logits(6, 7, 2.0), gw.targets(6, 7, -100), eps=0.3,
             kl=1, red=gw.SUM)
        # p_y -> 1 (the Liger-Kernel #1268 case): the target gradient p_y - 1 is ~-1e-3 / -1e-5.
        for eps in (0.0, 0.1):
            case(f"confident_V100_e{eps}_sum", dt,
                 confident_logits(4, 100, [3, 50, 99, 0], [0.999, 0.99999, 0.999, 0.99999]),
                 [3, 50, 99, 0], eps=eps, red=gw.SUM)
        # Logits offset by 1e4: bf16 spacing there is 64, fp16's 8 (many equal logits: argmax
        # ties go to the lowest index).
        case("offset_1e4_V33_e0.1_mean", dt, gw.logits(4, 33, 30.0) + 1e4, gw.targets(4, 33, -100),
             eps=0.1, red=gw.MEAN)
        # -inf masks (finite gradient -q_c * scale) and a NaN row.
        xm = gw.logits(5, 7, 2.0)
        xm[0, 1] = xm[0, 5] = float("-inf")
        xm[2, 0] = float("-inf")
        xm[3, 2:] = float("-inf")
        case("neginf_mask_V7_e0.1_none_go", dt, xm, [0, 4, 3, 1, -100], eps=0.1, red=gw.NONE,
             go=torch.randn(5))
        xn = gw.logits(3, 7, 2.0)
        xn[1, 4] = float("nan")
        case("nan_row_V7_e0.1_none", dt, xn, [2, 0, 6], eps=0.1, red=gw.NONE)
        # Gradient magnitudes: past fp16's 65504 (-> inf), and the 16-bit subnormal range.
        case("huge_go_V33_e0.1_sum", dt, gw.logits(3, 33, 4.0), gw.targets(3, 33, -100), eps=0.1,
             red=gw.SUM, go=[3e5 if dt == F16 else 1e36])
        case("tiny_go_V33_e0.1_sum", dt, gw.logits(4, 33, 4.0), gw.targets(4, 33, -100),
             eps=0.1, red=gw.SUM, go=[2e-4 if dt == F16 else 1e-37])


def write_case(w, c):
    N, V, ngo = g.write_fields(w, c)
    w.i64(c["dt"])
    for key in ("x16", "grad_bf16", "grad_f16"):
        arr = c[key].reshape(-1)
        assert arr.size == N * V
        w.array(arr, "<u2")
    return (f"{c['name']} {DT_NAME[c['dt']]} {N} {V} {gw.CONV_NAME[c['conv']]} "
            f"{c['kl']} {c['ii']} {gw.RED_NAME[c['red']]} {c['eps']} {ngo} {c['flags']} "
            f"{c['loss']!r}")


def main():
    gw.generate(OUT_DIR, build, CASES, b"LSCEGOLD", 2,
                ["# lsce golden cases, 16-bit logits (generated by tests/gen_golden_half.py; do "
                 "not edit)",
                 "# name dtype rows vocab convention kl ignore_index reduction smoothing "
                 "n_grad_output flags loss"],
                write_case)


if __name__ == "__main__":
    main()
