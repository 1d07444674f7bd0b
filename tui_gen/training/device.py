"""Choosing the device: auto means CUDA, else Apple MPS, else the CPU."""

from __future__ import annotations

import ctypes

import torch

from tui_gen.core.config import DEVICES
from tui_gen.core.errors import ConfigError


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "--device cuda was asked for, but PyTorch sees no CUDA GPU here "
            f"(torch {torch.__version__}): use --device auto or cpu, or install a CUDA build of torch"
        )
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ConfigError("--device mps was asked for, but Apple's MPS is not available here: use --device auto or cpu")
    if name not in DEVICES:
        raise ConfigError(f"unknown device {name[:40]!r}: choose one of {', '.join(DEVICES)}")
    return torch.device(name)


def describe(device: torch.device, matmul: torch.dtype = torch.float32) -> str:
    """The device as the start line says it, with bf16 products named when training uses them."""
    bf16 = ", bf16 products" if matmul == torch.bfloat16 else ""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)}{bf16})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''}{bf16})"
    return device.type + (f" ({bf16[2:]})" if bf16 else "")


def native_bf16(device: torch.device) -> bool:
    """Whether the device multiplies bf16 matrices natively (faster than fp32): a CUDA GPU that
    supports bf16, or a CPU with AVX512-BF16 or AMX (oneDNN's check). Elsewhere bf16 is emulated,
    slower than fp32."""
    match device.type:
        case "cuda":
            return bool(torch.cuda.is_bf16_supported())
        case "cpu":
            return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
        case _:
            return False


def matmul_dtype(device: torch.device, precision: str) -> torch.dtype:
    """The dtype of training's matrix products for --precision: auto is bf16 where it is native."""
    match precision:
        case "bf16":
            return torch.bfloat16
        case "fp32":
            return torch.float32
        case _:
            return torch.bfloat16 if native_bf16(device) else torch.float32


def keep_freed_memory() -> None:
    """Keep the memory a training step frees in the process, to be reused by the next step.

    glibc returns large freed blocks (over its mmap threshold, at most 32 MB) to the system, so each
    training step's window-sized buffers were mapped, zeroed and faulted in again: about 10,000 page
    faults and a tenth of a step's time on this CPU. With blocks under 64 MB taken from the heap and
    up to 256 MB of free heap kept, a step after the first faults almost never. Elsewhere than glibc
    (macOS, musl) this does nothing."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's malloc.h
    mallopt(m_mmap_threshold, 64 << 20)
    mallopt(m_trim_threshold, 256 << 20)
