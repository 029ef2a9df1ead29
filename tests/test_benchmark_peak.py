"""The benchmark's machine peak reads the CPU's flags right (``benchmarks/ldm_vs_diffusers.py``, *The limit*).

The per-cycle figures are the vendors': two 512-bit FMA units (16 float32 lanes each) on AVX-512 server cores,
one on Zen 4 (CPU family 25, which splits a 512-bit FMA in two), 8 lanes with AVX2, twice the float32 rate with
``avx512_bf16``'s pairwise products, and 512 bfloat16 multiply-adds per cycle with AMX.
"""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "ldm_vs_diffusers.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("ldm_vs_diffusers", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cpuinfo(family: int, flags: str, mhz: float = 2000.0) -> str:
    return f"processor\t: 0\ncpu family\t: {family}\ncpu MHz\t\t: {mhz}\nflags\t\t: fpu {flags}\n"


@pytest.mark.parametrize(("family", "flags", "fp32_per_cycle", "bf16_per_cycle", "amx"), [
    (26, "avx2 fma avx512f avx512_bf16", 32, 64, False),         # AMD Zen 5: 2 x 16 lanes
    (25, "avx2 fma avx512f avx512_bf16", 16, 32, False),         # AMD Zen 4: one 512-bit FMA per cycle
    (25, "avx2 fma", 16, 16, False),                             # AVX2 only: 2 x 8 lanes, bfloat16 emulated
    (6, "avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile", 32, 512, True),  # Intel Xeon with AMX
])
def test_machine_peak_per_cycle(bench, family, flags, fp32_per_cycle, bf16_per_cycle, amx):
    peak = bench.machine_peak(2, cpuinfo=_cpuinfo(family, flags, 2500.0))
    assert peak["clock_ghz"] == 2.5
    assert peak["float32"] == pytest.approx(2 * 2.5e9 * fp32_per_cycle)
    assert peak["bfloat16"] == pytest.approx(2 * 2.5e9 * bf16_per_cycle)
    assert peak["amx"] is amx


def test_machine_peak_clock_override(bench):
    peak = bench.machine_peak(1, clock_ghz=3.0, cpuinfo=_cpuinfo(26, "avx512f"))
    assert peak["float32"] == pytest.approx(3.0e9 * 32)
