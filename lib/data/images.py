"""Image classification data: Fashion-MNIST, CIFAR-10 and scikit-learn's digits.

>>> from lib.data import images
>>> data = images.load_images("fashion_mnist", size=16, validation=5000, train_limit=10000, seed=0)
>>> data.train[0].shape, data.shape, data.classes[:2]
(torch.Size([10000, 1, 16, 16]), (1, 16, 16), ('T-shirt/top', 'Trouser'))

Where the files come from (nothing is downloaded unless a user asks):

- **Fashion-MNIST** (Xiao, Rasul & Vollgraf 2017): the four official IDX ``.gz`` files,
  looked up in ``$FASHION_MNIST_DIR``, then ``/usr/share/datasets/fashion-mnist``
  (Debian/Ubuntu package ``dataset-fashion-mnist``), then the book's cache folder
  (`lib.cache`: ``$ACTIVATION_BOOK_CACHE``, else ``~/.cache/activation-book``), sub-folder
  ``fashion-mnist``. Every file is checked
  against the MD5 of its *decompressed* content, which does not change when a
  distribution recompresses the files (Debian's ``.gz`` files differ byte-wise from the
  official ones, their contents do not); a download is also checked against the MD5 of
  the official ``.gz`` file.
- **CIFAR-10** (Krizhevsky 2009): the official "python version" tarball
  ``cifar-10-python.tar.gz`` (MD5 checked), looked up in ``$CIFAR10_DIR``, then
  ``/usr/share/datasets/cifar-10``, then the user cache (sub-folder ``cifar-10``), and
  read straight from the archive.
- **digits**: scikit-learn's ``load_digits()`` (1,797 8x8 images; ships with
  scikit-learn), split once into a fixed stratified train/test split.

``download(name)`` (or ``load_images(..., download=True)``, or
``python -m lib.data.images download fashion_mnist``) fetches the files from the
dataset's official location into the user cache, verifying every checksum before a
file is moved into place.

Preprocessing, in this order: an optional seeded subset of the training set and a
seeded train/validation split; scaling to [0, 1]; optional resizing to ``size x size``
by bilinear interpolation with antialiasing (``torch.nn.functional.interpolate(mode=
"bilinear", antialias=True, align_corners=False)``: each output pixel averages the
input pixels under it, like PIL's bilinear ``resize``; upsampling the 8x8 digits is
plain bilinear interpolation); and optional standardisation with the per-channel mean
and standard deviation of the training split.
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import pickle
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from lib.cache import cache_dir

DATASETS = ("fashion_mnist", "cifar10", "digits")


class DataError(RuntimeError):
    """A data set is missing, incomplete or corrupt; the message says how to get it."""


@dataclass(frozen=True)
class DataFile:
    """One published file: its name, the MD5 of the file as published and, for ``.gz``
    files, the MD5 of the decompressed content (what a local copy is checked against)."""

    name: str
    md5: str
    content_md5: str | None = None


@dataclass(frozen=True)
class Source:
    """Where a data set's files live: an environment variable, a system folder, a cache
    sub-folder, the official download location and the files themselves."""

    title: str
    env_var: str
    system_dir: str
    cache_name: str
    url: str
    files: tuple[DataFile, ...]
    install_hint: str = ""


FASHION_MNIST = Source(
    title="Fashion-MNIST",
    env_var="FASHION_MNIST_DIR",
    system_dir="/usr/share/datasets/fashion-mnist",
    cache_name="fashion-mnist",
    # The download location named by the data set's README (github.com/zalandoresearch/fashion-mnist).
    url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    files=(
        DataFile("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
        DataFile("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
        DataFile("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
        DataFile("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
    ),
    install_hint="on Debian/Ubuntu: `sudo apt-get install dataset-fashion-mnist` (or `make system-deps`)",
)

CIFAR10 = Source(
    title="CIFAR-10",
    env_var="CIFAR10_DIR",
    system_dir="/usr/share/datasets/cifar-10",
    cache_name="cifar-10",
    url="https://www.cs.toronto.edu/~kriz/",
    files=(DataFile("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a"),),
)

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGITS_TEST_FRACTION = 0.25   # the fixed test share of scikit-learn's digits
DIGITS_SPLIT_SEED = 0         # fixed: the digits test set is the same for every run


# --- where the files are ----------------------------------------------------------------------

def search_path(source: Source) -> list[tuple[str, Path | None]]:
    """The folders looked in, in order, each with how it was chosen (None: variable unset)."""
    env = os.environ.get(source.env_var)
    return [
        (f"${source.env_var}", Path(env).expanduser() if env else None),
        ("system folder", Path(source.system_dir)),
        ("user cache", cache_dir(source.cache_name)),
    ]


def how_to_get(source: Source) -> str:
    ways = [f"  - {source.install_hint}"] if source.install_hint else []
    names = ", ".join(f.name for f in source.files)
    ways.append(f"  - download {names} from {source.url} into a folder and set {source.env_var} to it")
    key = "fashion_mnist" if source.cache_name == FASHION_MNIST.cache_name else "cifar10"
    ways.append(f"  - or let the book download and verify them (needs a network): "
                f"`python -m lib.data.images download {key}`")
    return "\n".join(ways)


def locate(source: Source, root: str | Path | None = None) -> Path:
    """The first folder holding every file of `source` (only `root` when given)."""
    places = [("root", Path(root).expanduser())] if root is not None else search_path(source)
    looked = []
    for how, folder in places:
        if folder is None:
            looked.append(f"  - {how}: not set")
            continue
        missing = [f.name for f in source.files if not (folder / f.name).is_file()]
        if not missing:
            return folder
        looked.append(f"  - {how}: {folder} (missing {', '.join(missing)})")
    raise DataError(f"{source.title} not found. Looked in:\n" + "\n".join(looked)
                    + "\nTo get it:\n" + how_to_get(source))


def md5_of(data: bytes | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(data, Path):
        with data.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    else:
        digest.update(data)
    return digest.hexdigest()


def _corrupt(source: Source, path: Path, why: str) -> DataError:
    return DataError(f"{source.title}: {path} is corrupt ({why}). Delete it and get it again:\n" + how_to_get(source))


# --- reading the formats ----------------------------------------------------------------------

def parse_idx(raw: bytes) -> np.ndarray:
    """An IDX array (the MNIST format: two zero bytes, type 0x08 = unsigned byte, the number
    of dimensions, each dimension as a big-endian int32, then the data)."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError("not an unsigned-byte IDX file")
    ndim = raw[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) != header + int(np.prod(shape)):
        raise ValueError(f"IDX header says {shape}, but the file holds {len(raw) - header} bytes of data")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def read_idx_gz(source: Source, path: Path, expected: DataFile) -> np.ndarray:
    """Decompress, check the content's MD5, parse."""
    try:
        raw = gzip.decompress(path.read_bytes())
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise _corrupt(source, path, f"not a readable gzip file: {err}") from err
    if expected.content_md5 is not None and md5_of(raw) != expected.content_md5:
        raise _corrupt(source, path, f"MD5 of its content is {md5_of(raw)}, expected {expected.content_md5}")
    try:
        return parse_idx(raw)
    except ValueError as err:
        raise _corrupt(source, path, str(err)) from err


def fashion_mnist_arrays(root: str | Path | None = None, download: bool = False) -> dict[str, np.ndarray]:
    """Fashion-MNIST as uint8 arrays: train_x (60000, 28, 28), train_y, test_x (10000, 28, 28), test_y."""
    source = FASHION_MNIST
    folder = _find_or_download("fashion_mnist", root, download)
    files = {f.name: f for f in source.files}
    arrays = {key: read_idx_gz(source, folder / name, files[name]) for key, name in (
        ("train_x", "train-images-idx3-ubyte.gz"), ("train_y", "train-labels-idx1-ubyte.gz"),
        ("test_x", "t10k-images-idx3-ubyte.gz"), ("test_y", "t10k-labels-idx1-ubyte.gz"))}
    for split in ("train", "test"):
        x, y = arrays[f"{split}_x"], arrays[f"{split}_y"]
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise _corrupt(source, folder, f"{split} images {x.shape} and labels {y.shape} do not match")
    return arrays


def cifar10_arrays(root: str | Path | None = None, download: bool = False) -> dict[str, np.ndarray]:
    """CIFAR-10 from the python-version tarball: train_x (50000, 32, 32, 3) uint8, train_y,
    test_x (10000, 32, 32, 3), test_y, and classes (the label names of batches.meta)."""
    source = CIFAR10
    folder = _find_or_download("cifar10", root, download)
    entry = source.files[0]
    path = folder / entry.name
    if md5_of(path) != entry.md5:
        raise _corrupt(source, path, f"MD5 is {md5_of(path)}, expected {entry.md5}")
    try:
        with tarfile.open(path, "r:gz") as archive:
            def batch(name):
                member = archive.extractfile(f"cifar-10-batches-py/{name}")
                if member is None:
                    raise KeyError(name)
                return pickle.load(member, encoding="bytes")

            train = [batch(f"data_batch_{i}") for i in range(1, 6)]
            test = batch("test_batch")
            meta = batch("batches.meta")
    except (tarfile.TarError, KeyError, pickle.UnpicklingError, EOFError, OSError) as err:
        raise _corrupt(source, path, f"not the python-version archive: {err}") from err

    def images(batches):
        data = np.concatenate([np.asarray(b[b"data"], dtype=np.uint8) for b in batches])
        return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)      # rows are R, G, B planes

    def labels(batches):
        return np.concatenate([np.asarray(b[b"labels"], dtype=np.int64) for b in batches])

    return {"train_x": images(train), "train_y": labels(train), "test_x": images([test]),
            "test_y": labels([test]), "classes": np.array([n.decode() for n in meta[b"label_names"]])}


def digits_arrays() -> dict[str, np.ndarray]:
    """scikit-learn's digits as float arrays in [0, 1] (8x8, values 0..16 divided by 16), split
    once into a fixed stratified train (75 %) and test (25 %) set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        x, y, test_size=DIGITS_TEST_FRACTION, stratify=y, random_state=DIGITS_SPLIT_SEED)
    return {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}


# --- downloading (only when asked) ------------------------------------------------------------

def download(name: str, dest: str | Path | None = None, url: str | None = None, timeout: float = 60.0) -> Path:
    """Fetch a data set's files from its official location (or `url`) into `dest`
    (default: the user cache), verify each checksum, and return the folder.

    Files already present and intact are kept. A file is written to a temporary name and
    moved into place only after its checksum matched, so an interrupted or corrupt
    download leaves nothing behind that a later load would trust.
    """
    source = _source(name)
    folder = Path(dest).expanduser() if dest is not None else cache_dir(source.cache_name)
    folder.mkdir(parents=True, exist_ok=True)
    base = url or source.url
    for entry in source.files:
        target = folder / entry.name
        if target.is_file() and md5_of(target) == entry.md5:
            continue
        address = base.rstrip("/") + "/" + entry.name
        try:
            with urllib.request.urlopen(address, timeout=timeout) as response:
                payload = response.read()
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise DataError(f"could not download {address} ({err}). Is there a network? "
                            f"Otherwise get {source.title} another way:\n" + how_to_get(source)) from err
        if md5_of(payload) != entry.md5:
            raise DataError(f"{address} has MD5 {md5_of(payload)}, expected {entry.md5}; nothing was saved. "
                            "The download was damaged or the file has changed upstream.")
        with tempfile.NamedTemporaryFile(dir=folder, delete=False, prefix=".partial-") as handle:
            handle.write(payload)
        shutil.move(handle.name, target)
    return folder


def _source(name: str) -> Source:
    if name == "fashion_mnist":
        return FASHION_MNIST
    if name == "cifar10":
        return CIFAR10
    raise ValueError(f"nothing to download for {name!r}; downloadable: fashion_mnist, cifar10")


def require(name: str) -> Path | None:
    """Where the files of data set `name` are (None for digits, which ships with scikit-learn), or
    DataError saying where it looked and how to get them: the runner calls it before any chapter runs."""
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return None if name == "digits" else locate(_source(name))


def _find_or_download(name: str, root: str | Path | None, download_if_missing: bool) -> Path:
    source = _source(name)
    try:
        return locate(source, root)
    except DataError:
        if not download_if_missing:
            raise
    return download(name, dest=root)


# --- splits and preprocessing -----------------------------------------------------------------

@dataclass(frozen=True)
class ImageData:
    """A classification data set as float tensors (N, C, H, W) with int64 labels."""

    name: str
    train: tuple[Tensor, Tensor]
    test: tuple[Tensor, Tensor]
    validation: tuple[Tensor, Tensor] | None
    classes: tuple[str, ...]
    mean: tuple[float, ...] | None     # per-channel statistics used to standardise (None: not standardised)
    std: tuple[float, ...] | None

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.train[0].shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def eval_sets(self) -> dict[str, tuple[Tensor, Tensor]]:
        """{"test": ..., "validation": ...} for `lib.train.train(eval_data=...)`."""
        sets = {"test": self.test}
        if self.validation is not None:
            sets["validation"] = self.validation
        return sets


def to_float_images(x: np.ndarray, scale: float = 255.0) -> Tensor:
    """(N, H, W) or (N, H, W, C) array -> float32 tensor (N, C, H, W) divided by `scale`."""
    t = torch.from_numpy(np.require(x, requirements=["C", "W"])).to(torch.float32) / scale
    if t.dim() == 3:
        return t.unsqueeze(1)
    return t.permute(0, 3, 1, 2).contiguous()


def resize(x: Tensor, size: int, chunk: int = 8192) -> Tensor:
    """Images (N, C, H, W) to (N, C, size, size): bilinear with antialiasing (see the module doc)."""
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"size must be a positive int, got {size!r}")
    if tuple(x.shape[-2:]) == (size, size):
        return x
    parts = [F.interpolate(x[i:i + chunk], size=(size, size), mode="bilinear", antialias=True, align_corners=False)
             for i in range(0, len(x), chunk)]
    return torch.cat(parts)


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and standard deviation of images (N, C, H, W)."""
    flat = x.transpose(0, 1).reshape(x.shape[1], -1).double()
    return flat.mean(dim=1).float(), flat.std(dim=1).clamp_min(1e-12).float()


def standardized(x: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    """(x - mean) / std per channel."""
    return (x - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def split_indices(n: int, validation: int | float, limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded permutation of range(n) cut into (train, validation) index arrays.

    `validation` is a count or a fraction of `n`; `limit` caps the training part.
    """
    n_val = int(round(validation * n)) if isinstance(validation, float) else int(validation)
    if not 0 <= n_val < n:
        raise ValueError(f"validation must leave some training data: got {validation!r} of {n} examples")
    order = np.random.default_rng(seed).permutation(n)
    val, train = order[:n_val], order[n_val:]
    if limit is not None:
        train = train[:limit]
    return np.sort(train), np.sort(val)


def load_images(name: str, *, size: int | None = None, standardize: bool = True,
                validation: int | float = 0, train_limit: int | None = None, test_limit: int | None = None,
                seed: int = 0, root: str | Path | None = None, download: bool = False) -> ImageData:
    """One of `DATASETS`, preprocessed (see the module doc) and ready for `lib.train.train`.

    Args:
        size: resize every image to size x size (None keeps 28, 32 or 8).
        standardize: subtract the training split's per-channel mean, divide by its std.
        validation: examples held out of the training set (a count, or a fraction if float).
        train_limit, test_limit: keep at most this many training / test examples (seeded subset).
        seed: drives the subsets and the validation split (not the test set of digits).
        root: read the files from this folder only (instead of the lookup order).
        download: if the files are missing, fetch them from the official location (needs a network).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    if size is not None and (not isinstance(size, int) or size < 1):
        raise ValueError(f"size must be a positive int or None, got {size!r}")
    for label, limit in (("train_limit", train_limit), ("test_limit", test_limit)):
        if limit is not None and (not isinstance(limit, int) or limit < 1):
            raise ValueError(f"{label} must be a positive int or None, got {limit!r}")
    if isinstance(validation, float) and not 0.0 <= validation < 1.0:
        raise ValueError(f"a validation fraction must be in [0, 1), got {validation}")

    if name == "fashion_mnist":
        arrays, classes, scale = fashion_mnist_arrays(root, download), FASHION_MNIST_CLASSES, 255.0
    elif name == "cifar10":
        arrays = cifar10_arrays(root, download)
        classes, scale = tuple(arrays["classes"].tolist()), 255.0
    else:
        arrays, classes, scale = digits_arrays(), tuple(str(d) for d in range(10)), 1.0

    train_idx, val_idx = split_indices(len(arrays["train_y"]), validation, train_limit, seed)
    test_idx = np.arange(len(arrays["test_y"]))
    if test_limit is not None and test_limit < len(test_idx):
        test_idx = np.sort(np.random.default_rng([seed, 1]).permutation(len(test_idx))[:test_limit])

    def prepare(x: np.ndarray, y: np.ndarray, index: np.ndarray) -> tuple[Tensor, Tensor]:
        images = to_float_images(x[index], scale)
        if size is not None:
            images = resize(images, size)
        return images, torch.from_numpy(np.asarray(y[index], dtype=np.int64))

    train = prepare(arrays["train_x"], arrays["train_y"], train_idx)
    test = prepare(arrays["test_x"], arrays["test_y"], test_idx)
    val = prepare(arrays["train_x"], arrays["train_y"], val_idx) if len(val_idx) else None
    mean = std = None
    if standardize:
        m, s = channel_stats(train[0])
        train, test = (standardized(train[0], m, s), train[1]), (standardized(test[0], m, s), test[1])
        val = (standardized(val[0], m, s), val[1]) if val is not None else None
        mean, std = tuple(m.tolist()), tuple(s.tolist())
    return ImageData(name=name, train=train, test=test, validation=val, classes=classes, mean=mean, std=std)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lib.data.images",
                                     description="Locate or download the book's image data sets.")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="download and verify a data set (needs a network)")
    get.add_argument("name", choices=["fashion_mnist", "cifar10"])
    get.add_argument("--dest", help="folder to download into (default: the user cache)")
    where = sub.add_parser("where", help="print the folder a data set is read from")
    where.add_argument("name", choices=["fashion_mnist", "cifar10"])
    args = parser.parse_args(argv)
    try:
        if args.command == "download":
            print(download(args.name, dest=args.dest))
        else:
            print(locate(_source(args.name)))
    except DataError as err:
        print(f"error: {err}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
