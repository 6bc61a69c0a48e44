"""Dataset loading for the mnist-hyperjump example.

Two sources, chosen by :func:`load_dataset`:

* **Full MNIST** from local IDX files (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
  ``t10k-labels-idx1-ubyte``; each may also be gzipped as ``<name>.gz``).
  Nothing is downloaded: point ``--data-dir`` or ``MNIST_DATA_DIR`` at a
  directory that already holds the files.
* **scikit-learn digits** (``sklearn.datasets.load_digits``: 1,797 8x8
  images bundled with scikit-learn), used when MNIST is not available.

Both are returned as a :class:`Dataset` with pixels scaled to [0, 1] and a
fixed train/validation split (seed :data:`SPLIT_SEED`), so every trial of an
experiment is scored on the same validation set.
"""

from __future__ import annotations

import gzip
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

#: Seed of the train/validation split (and of the MNIST training subsample).
#: Deliberately not a hyperparameter: all trials must see the same split.
SPLIT_SEED = 0

#: Environment variable naming a directory with the MNIST IDX files.
ENV_DATA_DIR = "MNIST_DATA_DIR"

IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension

#: Logical file names; see :func:`find_mnist_files` for accepted spellings.
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


class IdxFormatError(ValueError):
    """An IDX file is malformed (bad magic number, truncated, inconsistent)."""


@dataclass
class Dataset:
    """A classification data set ready for training.

    ``X_*`` are float64 arrays of shape (n, n_features) with values in [0, 1]
    (float64 on purpose: with float32, MLP weights of dead units and Adam's
    second moments decay into subnormal numbers and epochs get ~3x slower);
    ``y_*`` are int64 label arrays. ``X_test``/``y_test`` are only set for
    full MNIST (the official t10k set); they are never used for tuning.
    """

    name: str  # "mnist" or "digits"
    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    classes: np.ndarray
    image_shape: tuple
    source: str = ""
    X_test: Optional[np.ndarray] = None
    y_test: Optional[np.ndarray] = None

    def describe(self) -> str:
        """One log line naming the data set and its sizes."""
        h, w = self.image_shape
        parts = [
            f"Dataset: {self.name} ({self.source})",
            f"train={len(self.y_train)}",
            f"val={len(self.y_val)}",
        ]
        if self.y_test is not None:
            parts.append(f"test={len(self.y_test)}")
        parts.append(f"image={h}x{w} features={self.X_train.shape[1]} classes={len(self.classes)}")
        return " ".join(parts)


# ---------------------------------------------------------------------------
# IDX parsing
# ---------------------------------------------------------------------------

def _read_bytes(path: Path) -> bytes:
    """Read a file, transparently gunzipping ``.gz`` files (or gzip content)."""
    raw = path.read_bytes()
    if path.suffix == ".gz" or raw[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise IdxFormatError(f"{path}: not a valid gzip file ({exc})") from exc
    return raw


def read_idx(path: PathLike, expected_magic: int) -> np.ndarray:
    """Parse one IDX file of unsigned bytes (the MNIST format).

    Header: a big-endian int32 magic number ``0x0000TTNN`` (TT = 0x08 for
    unsigned byte, NN = number of dimensions), then NN big-endian uint32
    dimension sizes, then the data in row-major order. MNIST images use
    magic 2051 (3 dims: count, rows, cols) and labels 2049 (1 dim: count).

    Raises :class:`IdxFormatError` naming ``path`` on any inconsistency.
    """
    path = Path(path)
    buf = _read_bytes(path)
    if len(buf) < 4:
        raise IdxFormatError(f"{path}: file too short for an IDX header ({len(buf)} bytes)")
    (magic,) = struct.unpack(">i", buf[:4])
    if magic != expected_magic:
        raise IdxFormatError(
            f"{path}: bad IDX magic number {magic} (0x{magic & 0xFFFFFFFF:08x}), "
            f"expected {expected_magic} (0x{expected_magic:08x})"
        )
    ndim = magic & 0xFF
    header_len = 4 + 4 * ndim
    if len(buf) < header_len:
        raise IdxFormatError(f"{path}: truncated IDX header (need {header_len} bytes, file has {len(buf)})")
    dims = struct.unpack(f">{ndim}I", buf[4:header_len])
    expected = int(np.prod(dims, dtype=np.int64))
    actual = len(buf) - header_len
    if actual != expected:
        raise IdxFormatError(
            f"{path}: IDX dimensions {dims} need {expected} data bytes, file has {actual}"
        )
    return np.frombuffer(buf, dtype=np.uint8, offset=header_len).reshape(dims)


def read_idx_images(path: PathLike) -> np.ndarray:
    """uint8 array of shape (n, rows, cols) from an ``*-images-idx3-ubyte`` file."""
    return read_idx(path, IDX_IMAGES_MAGIC)


def read_idx_labels(path: PathLike) -> np.ndarray:
    """uint8 array of shape (n,) from an ``*-labels-idx1-ubyte`` file."""
    labels = read_idx(path, IDX_LABELS_MAGIC)
    if labels.size and labels.max() > 9:
        raise IdxFormatError(f"{Path(path)}: label {int(labels.max())} out of range 0..9")
    return labels


def find_mnist_files(data_dir: PathLike) -> tuple[dict, list]:
    """Locate the four MNIST files in ``data_dir``.

    Accepts the canonical names (``train-images-idx3-ubyte``), the common
    dotted variant (``train-images.idx3-ubyte``) and either with ``.gz``;
    an uncompressed file wins over a gzipped one.

    Returns ``(found, missing)``: a dict key -> Path and a list of the
    canonical names not found.
    """
    data_dir = Path(data_dir)
    found, missing = {}, []
    for key, name in MNIST_FILES.items():
        dotted = name.replace("-idx", ".idx")
        for candidate in (name, dotted, name + ".gz", dotted + ".gz"):
            p = data_dir / candidate
            if p.is_file():
                found[key] = p
                break
        else:
            missing.append(name)
    return found, missing


# ---------------------------------------------------------------------------
# Data sets
# ---------------------------------------------------------------------------

def _split(X, y, val_size, seed=SPLIT_SEED):
    from sklearn.model_selection import train_test_split

    return train_test_split(X, y, test_size=val_size, random_state=seed, stratify=y)


def load_mnist(data_dir: PathLike, max_train: Optional[int] = 10000, val_size: int = 5000) -> Dataset:
    """Full MNIST from IDX files in ``data_dir``.

    The validation set is a fixed, stratified hold-out of ``val_size`` images
    from the 60k training files; the training set is a fixed stratified
    subsample of at most ``max_train`` of the rest (``None`` or <= 0: all).
    The t10k files become ``X_test``/``y_test``.
    """
    found, missing = find_mnist_files(data_dir)
    if missing:
        raise FileNotFoundError(f"MNIST files missing in {data_dir}: {', '.join(missing)}")
    images = read_idx_images(found["train_images"])
    labels = read_idx_labels(found["train_labels"])
    test_images = read_idx_images(found["test_images"])
    test_labels = read_idx_labels(found["test_labels"])
    for img, lab, ik, lk in ((images, labels, "train_images", "train_labels"),
                             (test_images, test_labels, "test_images", "test_labels")):
        if len(img) != len(lab):
            raise IdxFormatError(
                f"{found[ik]} has {len(img)} images but {found[lk]} has {len(lab)} labels"
            )
    if images.shape[1:] != test_images.shape[1:]:
        raise IdxFormatError(
            f"image size differs: {found['train_images']} is {images.shape[1:]}, "
            f"{found['test_images']} is {test_images.shape[1:]}"
        )

    n = len(labels)
    if not 0 < val_size < n:
        raise ValueError(f"val_size must be in 1..{n - 1}, got {val_size}")
    idx_train, idx_val, _, _ = _split(np.arange(n), labels, val_size)
    if max_train is not None and 0 < max_train < len(idx_train):
        idx_train, _, _, _ = _split(idx_train, labels[idx_train], len(idx_train) - max_train)
    idx_train = np.sort(idx_train)
    idx_val = np.sort(idx_val)

    def prep(a):  # subsample first, then convert: keeps memory small
        return a.reshape(len(a), -1).astype(np.float64) / 255.0

    return Dataset(
        name="mnist",
        X_train=prep(images[idx_train]),
        y_train=labels[idx_train].astype(np.int64),
        X_val=prep(images[idx_val]),
        y_val=labels[idx_val].astype(np.int64),
        X_test=prep(test_images),
        y_test=test_labels.astype(np.int64),
        classes=np.arange(10),
        image_shape=tuple(images.shape[1:]),
        source=f"IDX files in {Path(data_dir)}",
    )


def load_digits_dataset(val_fraction: float = 0.2) -> Dataset:
    """scikit-learn's bundled 8x8 digits (values 0..16, scaled to [0, 1])."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data.astype(np.float64) / 16.0
    y = digits.target.astype(np.int64)
    X_train, X_val, y_train, y_val = _split(X, y, val_fraction)
    return Dataset(
        name="digits",
        X_train=X_train,
        y_train=y_train,
        X_val=X_val,
        y_val=y_val,
        classes=np.arange(10),
        image_shape=(8, 8),
        source="sklearn.datasets.load_digits",
    )


def load_dataset(
    data_dir: Optional[PathLike] = None,
    dataset: str = "auto",
    max_train: Optional[int] = 10000,
    val_size: int = 5000,
    log=print,
) -> Dataset:
    """Pick and load the data set.

    ``data_dir`` defaults to ``$MNIST_DATA_DIR``. With ``dataset="auto"`` full
    MNIST is used when all four IDX files are in ``data_dir``, otherwise the
    digits fallback (and ``log`` says why). ``dataset="mnist"`` makes missing
    files an error; ``dataset="digits"`` never looks for MNIST.
    Malformed MNIST files always raise :class:`IdxFormatError`.
    """
    if dataset not in ("auto", "mnist", "digits"):
        raise ValueError(f"dataset must be 'auto', 'mnist' or 'digits', got {dataset!r}")
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_DATA_DIR) or None

    if dataset != "digits":
        if data_dir is None:
            reason = f"no --data-dir given and ${ENV_DATA_DIR} not set"
        elif not Path(data_dir).is_dir():
            reason = f"data dir {data_dir} does not exist"
        else:
            _, missing = find_mnist_files(data_dir)
            if not missing:
                return load_mnist(data_dir, max_train=max_train, val_size=val_size)
            reason = f"missing in {data_dir}: {', '.join(missing)}"
        if dataset == "mnist":
            raise FileNotFoundError(f"full MNIST requested but not available ({reason})")
        log(f"Full MNIST not available ({reason}); using the scikit-learn digits fallback")

    return load_digits_dataset()
