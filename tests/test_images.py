"""Image data: lookup order, checksums, download path (local only), formats, preprocessing."""
from __future__ import annotations

import dataclasses
import gzip
import hashlib
import http.server
import io
import pickle
import socket
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from lib.data import images
from lib.data.images import DataError, DataFile

SYSTEM_FASHION = Path(images.FASHION_MNIST.system_dir)
HAVE_FASHION = all((SYSTEM_FASHION / f.name).is_file() for f in images.FASHION_MNIST.files)


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    return header + array.astype(np.uint8).tobytes()


def fake_fashion(folder: Path, n_train: int = 40, n_test: int = 20, seed: int = 0):
    """Write a tiny Fashion-MNIST in the official format; return its arrays and a matching Source."""
    rng = np.random.default_rng(seed)
    arrays = {"train_x": rng.integers(0, 256, (n_train, 28, 28)), "train_y": np.arange(n_train) % 10,
              "test_x": rng.integers(0, 256, (n_test, 28, 28)), "test_y": (np.arange(n_test) * 3) % 10}
    names = {"train_x": "train-images-idx3-ubyte.gz", "train_y": "train-labels-idx1-ubyte.gz",
             "test_x": "t10k-images-idx3-ubyte.gz", "test_y": "t10k-labels-idx1-ubyte.gz"}
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for key, name in names.items():
        raw = idx_bytes(arrays[key])
        packed = gzip.compress(raw, mtime=0)
        (folder / name).write_bytes(packed)
        files.append(DataFile(name, md5(packed), md5(raw)))
    return arrays, dataclasses.replace(images.FASHION_MNIST, files=tuple(files))


def fake_cifar_archive(path: Path, per_batch: int = 3):
    """A tiny archive in the layout of cifar-10-python.tar.gz; returns (train_x, train_y, test_x, test_y)."""
    rng = np.random.default_rng(1)
    batches, xs, ys = {}, [], []
    for i in range(1, 6):
        x = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        y = list(rng.integers(0, 10, per_batch))
        batches[f"data_batch_{i}"] = {b"data": x, b"labels": y}
        xs.append(x)
        ys += y
    tx = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
    ty = list(rng.integers(0, 10, per_batch))
    batches["test_batch"] = {b"data": tx, b"labels": ty}
    batches["batches.meta"] = {b"label_names": [f"class{i}".encode() for i in range(10)]}
    with tarfile.open(path, "w:gz") as archive:
        for name, content in batches.items():
            payload = pickle.dumps(content)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return np.concatenate(xs), np.array(ys), tx, np.array(ty)


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No environment variable, a missing system folder and an empty cache under tmp_path."""
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    monkeypatch.delenv("CIFAR10_DIR", raising=False)
    monkeypatch.setenv("ACTIVATION_BOOK_CACHE", str(tmp_path / "cache"))
    for name in ("FASHION_MNIST", "CIFAR10"):
        source = getattr(images, name)
        monkeypatch.setattr(images, name, dataclasses.replace(source, system_dir=str(tmp_path / "no-such-dir")))
    return tmp_path


# --- Fashion-MNIST: lookup, format, checksums ---------------------------------------------------

def test_fashion_mnist_read_from_the_environment_variable(isolated, monkeypatch):
    arrays, source = fake_fashion(isolated / "env")
    monkeypatch.setattr(images, "FASHION_MNIST", dataclasses.replace(source, system_dir=str(isolated / "no-such-dir")))
    monkeypatch.setenv("FASHION_MNIST_DIR", str(isolated / "env"))
    got = images.fashion_mnist_arrays()
    for key, value in arrays.items():
        np.testing.assert_array_equal(got[key], value)


def test_lookup_order_env_then_system_then_cache(isolated, monkeypatch):
    _, source = fake_fashion(isolated / "system")
    fake_fashion(isolated / "cache" / "fashion-mnist")
    source = dataclasses.replace(source, system_dir=str(isolated / "system"))
    monkeypatch.setattr(images, "FASHION_MNIST", source)
    assert images.locate(source) == isolated / "system"                      # system before cache
    monkeypatch.setenv("FASHION_MNIST_DIR", str(isolated / "empty"))
    assert images.locate(source) == isolated / "system"                      # an empty env folder is skipped
    fake_fashion(isolated / "env")
    monkeypatch.setenv("FASHION_MNIST_DIR", str(isolated / "env"))
    assert images.locate(source) == isolated / "env"                         # env first
    monkeypatch.delenv("FASHION_MNIST_DIR")
    monkeypatch.setattr(images, "FASHION_MNIST", dataclasses.replace(source, system_dir=str(isolated / "gone")))
    assert images.locate(images.FASHION_MNIST) == isolated / "cache" / "fashion-mnist"   # then the cache


def test_missing_data_says_where_it_looked_and_how_to_get_it(isolated):
    with pytest.raises(DataError) as err:
        images.load_images("fashion_mnist")
    message = str(err.value)
    assert "$FASHION_MNIST_DIR: not set" in message and "no-such-dir" in message
    assert "apt-get install dataset-fashion-mnist" in message
    assert "python -m lib.data.images download fashion_mnist" in message


def test_corrupt_files_are_reported_not_loaded(isolated, monkeypatch):
    folder = isolated / "env"
    _, source = fake_fashion(folder)
    monkeypatch.setattr(images, "FASHION_MNIST", source)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    labels = folder / "train-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[-1] ^= 1                                                              # one flipped bit
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataError, match=r"corrupt \(MD5 of its content"):
        images.fashion_mnist_arrays()
    labels.write_bytes(b"not gzip at all")
    with pytest.raises(DataError, match="not a readable gzip file"):
        images.fashion_mnist_arrays()


def test_recompressed_copy_with_the_same_content_is_accepted(isolated, monkeypatch):
    """Distributions recompress the .gz files (Debian's differ byte-wise): the content MD5 decides."""
    folder = isolated / "env"
    arrays, source = fake_fashion(folder)
    monkeypatch.setattr(images, "FASHION_MNIST", source)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    path = folder / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()), compresslevel=1, mtime=12345))
    np.testing.assert_array_equal(images.fashion_mnist_arrays()["test_y"], arrays["test_y"])


def test_parse_idx_rejects_wrong_headers():
    good = idx_bytes(np.zeros((2, 3, 3)))
    assert images.parse_idx(good).shape == (2, 3, 3)
    with pytest.raises(ValueError, match="IDX header says"):
        images.parse_idx(good[:-1])
    with pytest.raises(ValueError, match="not an unsigned-byte IDX"):
        images.parse_idx(b"\x00\x00\x0d\x01" + good[4:])


@pytest.mark.skipif(not HAVE_FASHION, reason="dataset-fashion-mnist is not installed")
def test_the_installed_fashion_mnist_is_the_official_one(monkeypatch):
    monkeypatch.delenv("FASHION_MNIST_DIR", raising=False)
    arrays = images.fashion_mnist_arrays()                                   # checks the content MD5s
    assert arrays["train_x"].shape == (60000, 28, 28) and arrays["test_x"].shape == (10000, 28, 28)
    assert np.bincount(arrays["train_y"]).tolist() == [6000] * 10
    assert np.bincount(arrays["test_y"]).tolist() == [1000] * 10


# --- downloading, tested against a local server only ------------------------------------------

@pytest.fixture
def local_server(tmp_path):
    """A local HTTP server on a free port serving tmp_path/'served'."""
    served = tmp_path / "served"
    served.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(served), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_download_verifies_checksums_and_then_loads(isolated, monkeypatch, local_server):
    served, url = local_server
    arrays, source = fake_fashion(served)
    monkeypatch.setattr(images, "FASHION_MNIST", dataclasses.replace(
        source, url=url, system_dir=str(isolated / "no-such-dir")))
    with pytest.raises(DataError, match="not found"):                        # never downloads unasked
        images.load_images("fashion_mnist")
    data = images.load_images("fashion_mnist", download=True, standardize=False)
    assert (isolated / "cache" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
    np.testing.assert_allclose(data.train[0][:, 0].numpy() * 255, arrays["train_x"], atol=1e-4)
    assert images.locate(images.FASHION_MNIST) == isolated / "cache" / "fashion-mnist"


def test_download_with_a_wrong_checksum_saves_nothing(isolated, monkeypatch, local_server):
    served, url = local_server
    _, source = fake_fashion(served)
    bad = (dataclasses.replace(source.files[0], md5="0" * 32),) + source.files[1:]
    monkeypatch.setattr(images, "FASHION_MNIST", dataclasses.replace(source, url=url, files=bad))
    dest = isolated / "dest"
    with pytest.raises(DataError, match="nothing was saved"):
        images.download("fashion_mnist", dest=dest)
    assert not (dest / bad[0].name).exists()
    assert not [p for p in dest.iterdir() if p.name.startswith(".partial")]


def test_download_without_a_network_is_a_clear_error(isolated, monkeypatch):
    with socket.socket() as s:                                                # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(images, "FASHION_MNIST", dataclasses.replace(
        images.FASHION_MNIST, url=f"http://127.0.0.1:{port}/"))
    with pytest.raises(DataError, match="could not download .* Is there a network"):
        images.download("fashion_mnist", dest=isolated / "dest", timeout=5)


def test_download_from_a_file_url(isolated, monkeypatch):
    arrays, source = fake_fashion(isolated / "mirror")
    monkeypatch.setattr(images, "FASHION_MNIST", source)
    folder = images.download("fashion_mnist", dest=isolated / "dest", url=(isolated / "mirror").as_uri())
    np.testing.assert_array_equal(images.fashion_mnist_arrays(root=folder)["test_y"], arrays["test_y"])


# --- CIFAR-10 ---------------------------------------------------------------------------------

def test_cifar10_from_a_tiny_archive_in_the_official_layout(isolated, monkeypatch):
    folder = isolated / "cifar"
    folder.mkdir()
    archive = folder / "cifar-10-python.tar.gz"
    train_x, train_y, test_x, test_y = fake_cifar_archive(archive)
    monkeypatch.setattr(images, "CIFAR10", dataclasses.replace(
        images.CIFAR10, files=(DataFile(archive.name, md5(archive.read_bytes())),)))
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    got = images.cifar10_arrays()
    assert got["train_x"].shape == (15, 32, 32, 3) and got["test_x"].shape == (3, 32, 32, 3)
    # a row holds the 1024 red, then green, then blue values, each plane row-major
    row, r, c = 4, 5, 7
    assert got["train_x"][row, r, c].tolist() == [train_x[row, k * 1024 + r * 32 + c] for k in range(3)]
    np.testing.assert_array_equal(got["train_y"], train_y)
    np.testing.assert_array_equal(got["test_y"], test_y)
    assert got["classes"].tolist()[:2] == ["class0", "class1"]
    data = images.load_images("cifar10", size=16)
    assert data.train[0].shape == (15, 3, 16, 16) and data.classes[9] == "class9"


def test_cifar10_archive_with_a_wrong_md5_is_rejected(isolated, monkeypatch):
    folder = isolated / "cifar"
    folder.mkdir()
    fake_cifar_archive(folder / "cifar-10-python.tar.gz")                   # official MD5 cannot match
    monkeypatch.setenv("CIFAR10_DIR", str(folder))
    with pytest.raises(DataError, match="corrupt .*MD5 is .* expected c58f30108f718f92721af3b95e74349a"):
        images.load_images("cifar10")


# --- preprocessing ----------------------------------------------------------------------------

@pytest.mark.parametrize("size", [16, 14, 40])
def test_resize_is_bilinear_with_antialiasing_like_pil(size):
    image = np.random.default_rng(0).random((28, 28)).astype(np.float32)
    reference = np.asarray(Image.fromarray(image, mode="F").resize((size, size), Image.BILINEAR))
    got = images.resize(torch.from_numpy(image)[None, None], size)[0, 0].numpy()
    np.testing.assert_allclose(got, reference, atol=1e-5)


def test_standardisation_uses_training_statistics(isolated, monkeypatch):
    folder = isolated / "env"
    arrays, source = fake_fashion(folder, n_train=60, n_test=30)
    monkeypatch.setattr(images, "FASHION_MNIST", source)
    monkeypatch.setenv("FASHION_MNIST_DIR", str(folder))
    data = images.load_images("fashion_mnist", size=16, validation=10, seed=3)
    x = data.train[0]
    assert abs(x.mean().item()) < 1e-5 and x.std().item() == pytest.approx(1.0, abs=1e-4)
    raw = images.load_images("fashion_mnist", size=16, validation=10, seed=3, standardize=False)
    mean, std = data.mean[0], data.std[0]
    torch.testing.assert_close(data.test[0], (raw.test[0] - mean) / std)
    torch.testing.assert_close(data.validation[0], (raw.validation[0] - mean) / std)


def test_seeded_split_is_deterministic_disjoint_and_limited():
    a_train, a_val = images.split_indices(100, 0.2, limit=50, seed=7)
    b_train, b_val = images.split_indices(100, 0.2, limit=50, seed=7)
    c_train, _ = images.split_indices(100, 0.2, limit=50, seed=8)
    assert np.array_equal(a_train, b_train) and np.array_equal(a_val, b_val)
    assert not np.array_equal(a_train, c_train)
    assert len(a_train) == 50 and len(a_val) == 20 and not set(a_train) & set(a_val)
    with pytest.raises(ValueError, match="must leave some training data"):
        images.split_indices(10, 10, None, 0)


def test_digits_fixed_test_set_and_seeded_validation():
    a = images.load_images("digits", size=16, validation=100, seed=0)
    b = images.load_images("digits", size=16, validation=100, seed=1, standardize=False)
    assert a.shape == (1, 16, 16) and a.num_classes == 10
    assert len(a.train[1]) + len(a.validation[1]) + len(a.test[1]) == 1797
    torch.testing.assert_close(a.test[1], b.test[1])                         # the test set never moves
    assert not torch.equal(a.validation[1], b.validation[1])
    assert set(a.eval_sets()) == {"test", "validation"}


@pytest.mark.parametrize("kwargs, match", [
    ({"name": "mnist"}, "unknown data set"),
    ({"name": "digits", "size": 0}, "size must be"),
    ({"name": "digits", "validation": 1.0}, "validation fraction"),
    ({"name": "digits", "train_limit": 0}, "train_limit"),
])
def test_bad_arguments_fail_before_loading(kwargs, match):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=match):
        images.load_images(name, **kwargs)
