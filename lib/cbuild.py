"""Build a C source of the package into a shared library on first use, cached, and load it with ctypes.

Used by the fused kernels (`lib.activations.native`, `lib.swarm_fused`). The library is compiled
with the system's C compiler (``$CC``, else ``cc``, else ``gcc``) into the ``kernels`` folder
of the book's one cache folder (`lib.cache`) under a name made from the source's, the flags' and the compiler's
hash and the CPU's feature flags (``-march=native``), so that an edited file or another machine
compiles its own. ``ACTIVATION_BOOK_NATIVE=0`` turns every such library off. Nothing here raises:
`load` returns None and a sentence saying why, and the callers keep their torch code.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from lib import cache

# Vectorised loops over glibc's vector maths (libmvec): no errno (so the calls vectorise), no
# contraction into fused multiply-adds (products and sums round as torch's do), and no builtin
# sin/cos, which gcc would fuse into a scalar sincos call that has no vector version
VECTOR_FLAGS = ["-O3", "-march=native", "-fno-math-errno", "-ffp-contract=off", "-fno-builtin-sin",
                "-fno-builtin-cos", "-fno-builtin-sinf", "-fno-builtin-cosf", "-fopenmp"]
VECTOR_LIBRARIES = ["-lmvec", "-lm"]


def cache_dir() -> Path:
    """Where the compiled libraries are kept: the ``kernels`` folder of the book's one cache folder."""
    return cache.cache_dir("kernels")


def _cpu_flags() -> str:
    """The CPU's feature flags (what -march=native compiles for): a cache shared by two machines
    must not hand one the other's instructions."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor()


def kernels_tag() -> str:
    """"kernels on" where the C kernels can be built and used here (Linux, a C compiler,
    ``ACTIVATION_BOOK_NATIVE`` not 0), else "kernels off". Part of the cache keys of sweep runs and
    chapters: the kernels and the torch code round differently, and a long training run turns a
    rounding difference into a different endpoint, so a result of one is not reused for the other."""
    return "kernels off" if _unusable() else "kernels on"


def _unusable() -> str | None:
    """Why no C library can be used here, or None."""
    if os.environ.get("ACTIVATION_BOOK_NATIVE", "1") == "0":
        return "ACTIVATION_BOOK_NATIVE=0"
    if platform.system() != "Linux":
        return f"the kernels are built for Linux (glibc's libmvec), not {platform.system()}"
    if compiler() is None:
        return "no C compiler (set CC, or install gcc)"
    return None


def compiler() -> str | None:
    return shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")


def build(source: Path, flags: list[str], libraries: list[str], cc: str) -> Path:
    """The cached library of `source` (compiled now if it is not in the cache)."""
    version = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256("\0".join([source.read_text(), " ".join(flags + libraries), version,
                                    platform.machine(), _cpu_flags()]).encode()).hexdigest()[:16]
    target = cache_dir() / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # compiled beside the target under a temporary name, then renamed: two processes building at
    # once (sweep workers) each write their own file, and a reader never sees half of one
    handle, temporary = tempfile.mkstemp(suffix=".so", dir=target.parent)
    os.close(handle)
    try:
        # --no-undefined: a missing symbol fails the build here, not the first call
        result = subprocess.run([cc, *flags, "-shared", "-fPIC", "-Wl,--no-undefined", "-o", temporary, str(source),
                                 *libraries],
                                capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise OSError(f"{cc} failed: {result.stderr.strip()[-500:]}")
        os.replace(temporary, target)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return target


def load(source: Path, flags: list[str], libraries: list[str]) -> tuple[ctypes.CDLL | None, str]:
    """(the loaded library, "on: <path>"), or (None, "off: <why>")."""
    reason = _unusable()
    if reason:
        return None, f"off: {reason}"
    try:
        path = build(source, flags, libraries, compiler())
        return ctypes.CDLL(str(path)), f"on: {path}"
    except (OSError, subprocess.SubprocessError) as error:
        return None, f"off: {error}"


class Library:
    """A C source built and loaded on the first `get()`; `declare(lib)` sets its functions' ctypes
    signatures (an AttributeError there, a missing function, turns the library off)."""

    def __init__(self, source: Path, declare: Callable[[ctypes.CDLL], None],
                 flags: list[str] = VECTOR_FLAGS, libraries: list[str] = VECTOR_LIBRARIES):
        self.source, self.declare, self.flags, self.libraries = source, declare, flags, libraries
        self.loaded, self.lib, self.status = False, None, "not loaded yet"

    def get(self) -> ctypes.CDLL | None:
        """The library, or None (then `status` says why)."""
        if not self.loaded:
            self.loaded = True
            lib, self.status = load(self.source, self.flags, self.libraries)
            if lib is not None:
                try:
                    self.declare(lib)
                except AttributeError as error:
                    lib, self.status = None, f"off: {error}"
            self.lib = lib
        return self.lib
