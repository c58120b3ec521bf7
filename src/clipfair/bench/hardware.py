"""What the machine can do: peak FLOP/s for an MFU estimate, peak memory, a short description."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

import torch

# Dense (no sparsity) datasheet peaks in TFLOP/s: (bf16/fp16 tensor core, fp32 non-tensor).
GPU_PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H100 SXM": (989.0, 67.0),
    "H100 NVL": (835.0, 60.0),
    "H100 PCIe": (756.0, 51.0),
    "H100": (989.0, 67.0),  # the SXM part is the common one; PCIe names itself above
    "H200": (989.0, 67.0),
    "A100": (312.0, 19.5),
    "L40S": (362.0, 91.6),
    "A10": (125.0, 31.2),
    "T4": (65.0, 8.1),
}


def cpu_flags() -> set[str]:
    """CPU feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_ghz() -> float:
    """Nominal clock in GHz (max frequency when the kernel exposes it, else cpuinfo MHz)."""
    max_freq = Path("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq")
    if max_freq.exists():
        return int(max_freq.read_text()) / 1e6
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1]) / 1000.0
    except OSError:
        pass
    return 2.0


def cpu_peak_flops(threads: int) -> tuple[float, dict[str, Any]]:
    """fp32 peak: threads x clock x SIMD lanes x 2 (FMA) x 2 FMA units (stated assumptions)."""
    flags = cpu_flags()
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    fma = 2 if "fma" in flags or "avx512f" in flags else 1
    ghz = cpu_ghz()
    peak = threads * ghz * 1e9 * lanes * fma * 2
    return peak, {
        "threads": threads,
        "ghz": round(ghz, 3),
        "fp32_lanes": lanes,
        "flops_per_fma": 2 * fma,
        "fma_units_assumed": 2,
    }


def device_peak_flops(device: torch.device, low_precision: bool) -> tuple[float, dict[str, Any]]:
    """Peak FLOP/s of ``device`` for the precision used, with how it was derived."""
    if device.type != "cuda":
        return cpu_peak_flops(torch.get_num_threads())
    name = torch.cuda.get_device_name(device)
    for key, (bf16, fp32) in GPU_PEAK_TFLOPS.items():
        if key in name:
            tflops = bf16 if low_precision else fp32
            return tflops * 1e12, {"gpu": name, "datasheet_key": key, "tflops": tflops}
    return float("nan"), {"gpu": name, "datasheet_key": None}


def describe(device: torch.device) -> dict[str, Any]:
    """Machine facts worth keeping next to a timing."""
    info: dict[str, Any] = {
        "device": str(device),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info
