"""What a benchmark ran on, printed with its figures: hosts that report the same CPU name
have differed in speed and instruction sets, and only figures of one host compare."""

from __future__ import annotations

import platform
from pathlib import Path

from monitor.embed.encoder import usable_cores


def describe_host() -> dict:
    """The CPU's name, the cores this process may use, the widest vector instructions
    PyTorch dispatches to (AVX2, AVX512...), and the GPU, if PyTorch sees one."""
    import torch  # not at the top: a bench's tokenizer processes (spawn) import its modules again

    return {"cpu": _cpu_name(), "cores": usable_cores(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()
