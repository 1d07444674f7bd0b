"""Choosing the device: auto means CUDA, else Apple MPS, else the CPU."""

from __future__ import annotations

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


def describe(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return device.type
