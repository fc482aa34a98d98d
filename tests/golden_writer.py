"""Shared pieces of the golden-vector generators (tests/gen_golden.py, gen_golden_half.py,
gen_golden_options.py): lsce.h's enum values and conventions, the random inputs, the checks of a
case's inputs, and the little-endian binary writer with the file layout they share (read back by
tests/golden_io.c).

Run the generators with Debian's interpreter, /usr/bin/python3 (it has torch).
"""
import os
import struct
import sys

import torch

UNIFORM, OTHERS, SEED = 0, 1, 2
MEAN, SUM, NONE = 0, 1, 2
RED_NAME = {MEAN: "mean", SUM: "sum", NONE: "none"}
CONV_NAME = {UNIFORM: "uniform", OTHERS: "others", SEED: "seed"}
FLAG_ALL_IGNORED_MEAN = 1
FLAG_TORCH_CROSS_ENTROPY = 2


def conv_weights(conv, eps, V):
    """(a, b) = (q_y, q_c for c != y), exactly as lsce.h defines them."""
    if conv == UNIFORM:
        return 1.0 - eps + eps / V, eps / V
    if conv == OTHERS:
        return 1.0 - eps, (eps / (V - 1.0) if V > 1 else 0.0)
    return 1.0 - eps, eps / V


def targets(N, V, ii, frac_ignored=0.25):
    """Random targets in [0, V) with about frac_ignored of the rows (at least one) ignored."""
    y = torch.randint(0, V, (N,))
    ign = torch.rand(N) < frac_ignored
    if N > 1:
        ign[torch.randint(0, N, (1,))] = True
    y[ign] = ii
    # Keep at least one row (ignore_index 0 is a real class: rows that drew 0 are ignored too).
    if bool((y == ii).all()) and not (ii == 0 and V == 1):
        y[0] = V - 1
    return y


def logits(N, V, scale):
    return torch.randn(N, V) * scale


def case_inputs(name, x32, y, ii, red, go):
    """A case's fp32 logits (N x V, contiguous), int64 targets and fp32 grad_output (None, or
    1 value, N for reduction none), checked: every target in [0, V) or ignore_index."""
    x32 = x32.float().contiguous()
    y = torch.as_tensor(y, dtype=torch.int64)
    N, V = x32.shape
    assert y.shape == (N,)
    assert all(int(t) == ii or 0 <= int(t) < V for t in y), name
    if go is not None:
        go = torch.as_tensor(go, dtype=torch.float32).reshape(-1).clone()
        assert go.numel() == (N if red == NONE else 1)
    return x32, y, go


class Writer:
    """A golden.bin being built: char magic[8]; int64 version, n_cases; then the cases."""

    def __init__(self, magic, version, n_cases):
        assert len(magic) == 8
        self.out = bytearray(magic + struct.pack("<qq", version, n_cases))

    def i64(self, *values):
        self.out += struct.pack(f"<{len(values)}q", *values)

    def f64(self, *values):
        self.out += struct.pack(f"<{len(values)}d", *values)

    def array(self, t, dtype):
        """A tensor's (or numpy array's) values as little-endian dtype ("<f4", "<f8", "<i8",
        "<u2")."""
        a = t.detach().numpy() if isinstance(t, torch.Tensor) else t
        self.out += a.astype(dtype).tobytes()

    def head(self, c, *more):
        """char name[48]; int64 rows, vocab, convention, kl, ignore_index, reduction,
        n_grad_output, flags, *more. Returns (rows, vocab, n_grad_output)."""
        N, V = c["x"].shape
        ngo = 0 if c["go"] is None else c["go"].numel()
        self.out += c["name"].encode().ljust(48, b"\0")
        self.i64(N, V, c["conv"], c["kl"], c["ii"], c["red"], ngo, c["flags"], *more)
        return N, V, ngo

    def inputs(self, c):
        """float32 logits[rows*vocab]; int64 targets[rows]; float32 grad_output[n_grad_output]."""
        self.array(c["x"], "<f4")
        self.array(c["y"], "<i8")
        if c["go"] is not None:
            self.array(c["go"], "<f4")

    def outputs(self, c):
        """double row_loss[rows], row_nll[rows], row_lse[rows]; int64 row_argmax[rows];
        double grad[rows*vocab]."""
        for key in ("row_loss", "nll", "lse"):
            self.array(c[key].double(), "<f8")
        self.array(c["argmax"], "<i8")
        self.array(c["grad"], "<f8")


def generate(out_dir, build, cases, magic, version, header, write_case):
    """Builds the cases (one thread: deterministic) and writes out_dir/golden.bin, and
    out_dir/cases.txt: the header lines, then the line write_case(writer, case) returns."""
    torch.set_num_threads(1)
    build()
    w = Writer(magic, version, len(cases))
    lines = list(header)
    for c in cases:
        lines.append(write_case(w, c))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "golden.bin"), "wb") as f:
        f.write(w.out)
    with open(os.path.join(out_dir, "cases.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"{len(cases)} cases, {len(w.out)} bytes", file=sys.stderr)
