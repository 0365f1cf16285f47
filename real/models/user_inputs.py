"""A user's trained weights and calibration inputs, read safely for measured sparsity (docs/architecture.md §7).

Weights are a ``state_dict`` read with ``torch.load(weights_only=True)`` (no code runs from the
file); inputs are an ``.npy`` array of shape (N, C, H, W) read without pickles, or a folder of
images read with Pillow. Sizes are checked before anything is loaded, at most ``limit`` inputs are
used, and every refusal is one line naming the file, the field and the value. Each file is
fingerprinted with its sha256 for the graph's ``sparsity_provenance``; a folder's fingerprint is the
sha256 of the lines ``name NUL sha256-hex LF`` of the images used, in name order. Images are resized
so a centred crop of the model's (H, W) keeps 87.5 % of the short side (torchvision's 224-of-256),
scaled to [0, 1] and, with 3 channels, normalised by the ImageNet mean and std.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from sparoa_sim.errors import GraphError
from sparoa_sim.ir.sparsity import SourceFile

__all__ = [
    "DEFAULT_MAX_INPUTS", "IMAGE_SUFFIXES", "MAX_INPUT_BYTES", "MAX_WEIGHTS_BYTES", "IMAGENET_MEAN", "IMAGENET_STD",
    "UserInputs", "apply_state_dict", "load_inputs", "load_state_dict", "sha256_file",
]

#: Inputs used when the caller gives no limit.
DEFAULT_MAX_INPUTS = 64
#: Largest weights file read (bytes): above every shipped model's FP32 weights (ViT-B/16: 346 MB).
MAX_WEIGHTS_BYTES = 2 * 1024**3
#: Largest input data read (bytes): the ``.npy`` rows used, or the image files used together.
MAX_INPUT_BYTES = 1024**3
#: Image files a folder of inputs may hold (others are ignored).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".webp", ".tif", ".tiff")
#: Normalisation of 3-channel images (torchvision's ImageNet statistics), after scaling to [0, 1].
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Images are resized so the crop keeps this fraction of the short side (torchvision's 224 / 256).
CROP_FRACTION = 0.875


@dataclass(frozen=True)
class UserInputs:
    """Calibration inputs (N, C, H, W) as float32, where they came from, and their fingerprint."""

    tensor: torch.Tensor
    file: SourceFile
    description: str


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _existing_file(path: str | os.PathLike[str], what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise GraphError(f"{what} {p}: no such file")
    if not p.is_file():
        raise GraphError(f"{what} {p}: not a file")
    return p


def load_state_dict(path: str | os.PathLike[str], *, max_bytes: int = MAX_WEIGHTS_BYTES) -> dict[str, torch.Tensor]:
    """A ``state_dict`` (names → tensors) from ``path``, read with ``torch.load(weights_only=True)``.

    Refused with :class:`GraphError`: a missing file, one over ``max_bytes``, a file torch cannot
    read as tensors (a pickled module or other object), and anything but a mapping of str → tensor.
    """
    p = _existing_file(path, "weights")
    size = p.stat().st_size
    if size > max_bytes:
        raise GraphError(f"weights {p}: {size} bytes, over the limit of {max_bytes} bytes")
    try:
        obj = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as exc:  # UnpicklingError for a pickled object, RuntimeError for a non-torch file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GraphError(f"weights {p}: not a state_dict of tensors; torch.load(weights_only=True) refused it "
                         f"({type(exc).__name__}: {first})") from None
    if not isinstance(obj, Mapping):
        raise GraphError(f"weights {p}: holds a {type(obj).__name__}, not a state_dict (a mapping of names to "
                         "tensors, as model.state_dict() gives)")
    for key, value in obj.items():
        if not isinstance(key, str):
            raise GraphError(f"weights {p}: key {key!r} is not a string (a state_dict maps names to tensors)")
        if not isinstance(value, torch.Tensor):
            raise GraphError(f"weights {p}: key {key!r} holds a {type(value).__name__}, not a tensor "
                             "(save model.state_dict() itself, not a checkpoint around it)")
    return dict(obj)


def _strip_module_prefix(state: dict[str, torch.Tensor], expected: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A ``DataParallel`` state_dict (every key under ``module.``) renamed to the bare model's keys."""
    if state and set(state) != set(expected) and all(k.startswith("module.") for k in state):
        stripped = {k[len("module."):]: v for k, v in state.items()}
        if set(stripped) == set(expected):
            return stripped
    return state


def _names(keys: Sequence[str], limit: int = 3) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def apply_state_dict(model: nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike[str]) -> None:
    """Load ``state`` into ``model`` strictly; wrong keys or shapes raise one-line :class:`GraphError`."""
    expected = model.state_dict()
    state = _strip_module_prefix(state, expected)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        parts = ([f"missing {_names(missing)}"] if missing else []) + \
                ([f"unexpected {_names(unexpected)}"] if unexpected else [])
        raise GraphError(f"weights {path}: keys do not match the model ({len(expected)} expected): "
                         + "; ".join(parts))
    for key, want in expected.items():
        got = state[key]
        if tuple(got.shape) != tuple(want.shape):
            raise GraphError(f"weights {path}: key {key!r} has shape {list(got.shape)}, the model expects "
                             f"{list(want.shape)}")
        if want.is_floating_point() and not (got.is_floating_point() or got.dtype in (torch.int8, torch.uint8)):
            raise GraphError(f"weights {path}: key {key!r} has dtype {str(got.dtype).removeprefix('torch.')}, "
                             f"the model expects {str(want.dtype).removeprefix('torch.')}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:  # anything the checks above missed, still on one line
        first = str(exc).strip().splitlines()[0]
        raise GraphError(f"weights {path}: the model refuses it: {first}") from None


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise GraphError(f"--max-inputs: must be a positive integer, got {limit!r}")
    return limit


def load_inputs(path: str | os.PathLike[str], sample_shape: Sequence[int], *, limit: int = DEFAULT_MAX_INPUTS,
                max_bytes: int = MAX_INPUT_BYTES) -> UserInputs:
    """The first ``limit`` calibration inputs of ``path`` (an ``.npy`` file or a folder of images),
    each of ``sample_shape`` (C, H, W), as float32 (N, C, H, W)."""
    limit = _check_limit(limit)
    p = Path(path)
    if p.is_dir():
        return _load_images(p, tuple(int(d) for d in sample_shape), limit, max_bytes)
    p = _existing_file(p, "inputs")
    if p.suffix.lower() != ".npy":
        raise GraphError(f"inputs {p}: expected a .npy file of shape (N, C, H, W) or a folder of images, "
                         f"got a {p.suffix or 'suffix-less'} file")
    return _load_npy(p, tuple(int(d) for d in sample_shape), limit, max_bytes)


def _load_npy(p: Path, sample_shape: tuple[int, ...], limit: int, max_bytes: int) -> UserInputs:
    try:  # memory-mapped: only the header is read here, so the shape is checked before any data
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except Exception as exc:  # a pickle, an object array, a truncated or non-npy file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GraphError(f"inputs {p}: not a readable .npy array without pickles ({type(exc).__name__}: {first})") \
            from None
    if not isinstance(arr, np.ndarray):
        raise GraphError(f"inputs {p}: holds a {type(arr).__name__}, not one array")
    if arr.dtype.kind not in "fiu":
        raise GraphError(f"inputs {p}: dtype {arr.dtype} is not numeric (expected float or integer)")
    want = (len(sample_shape) + 1, sample_shape)
    if arr.ndim != want[0] or tuple(arr.shape[1:]) != sample_shape or arr.shape[0] < 1:
        raise GraphError(f"inputs {p}: shape {list(arr.shape)}, the model takes (N, "
                         f"{', '.join(map(str, sample_shape))}) with N >= 1")
    n = min(limit, int(arr.shape[0]))
    nbytes = n * math.prod(sample_shape) * arr.dtype.itemsize
    if nbytes > max_bytes:
        raise GraphError(f"inputs {p}: the {n} inputs used take {nbytes} bytes, over the limit of {max_bytes} "
                         "bytes (lower --max-inputs)")
    data = np.array(arr[:n], dtype=np.float32)
    if not np.isfinite(data).all():
        raise GraphError(f"inputs {p}: holds NaN or infinite values in its first {n} inputs")
    digest = sha256_file(p)
    return UserInputs(torch.from_numpy(data), SourceFile("inputs", p.name, digest),
                      f"{n} of {arr.shape[0]} inputs of {p.name}")


def _load_images(folder: Path, sample_shape: tuple[int, ...], limit: int, max_bytes: int) -> UserInputs:
    try:
        from PIL import Image
    except ImportError:  # Pillow ships with matplotlib, a dependency; say so if it is gone
        raise GraphError(f"inputs {folder}: reading a folder of images needs Pillow (pip install pillow); "
                         "or give a .npy file") from None
    if len(sample_shape) != 3 or sample_shape[0] not in (1, 3):
        raise GraphError(f"inputs {folder}: images give (1 or 3, H, W) inputs, the model takes "
                         f"{list(sample_shape)}; give a .npy file")
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise GraphError(f"inputs {folder}: no image files ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    files = files[:limit]
    total = sum(f.stat().st_size for f in files)
    if total > max_bytes:
        raise GraphError(f"inputs {folder}: the {len(files)} images used take {total} bytes, over the limit of "
                         f"{max_bytes} bytes (lower --max-inputs)")
    c, h, w = sample_shape
    rows = []
    digest = hashlib.sha256()
    for f in files:
        try:
            with Image.open(f) as im:
                im = im.convert("RGB" if c == 3 else "L")
                scale = max(h / im.height, w / im.width) / CROP_FRACTION
                size = (max(w, round(im.width * scale)), max(h, round(im.height * scale)))
                im = im.resize(size, Image.BILINEAR)
                left, top = (size[0] - w) // 2, (size[1] - h) // 2
                pixels = np.asarray(im.crop((left, top, left + w, top + h)), dtype=np.float32) / 255.0
        except Exception as exc:  # Pillow's errors for unreadable, truncated or oversized images
            raise GraphError(f"inputs {f}: cannot read the image ({type(exc).__name__}: {exc})") from None
        chw = pixels.reshape(h, w, c).transpose(2, 0, 1)
        if c == 3:
            chw = (chw - np.array(IMAGENET_MEAN, np.float32)[:, None, None]) / np.array(IMAGENET_STD, np.float32)[:, None, None]
        rows.append(chw)
        digest.update(f.name.encode() + b"\0" + sha256_file(f).encode() + b"\n")
    data = np.ascontiguousarray(np.stack(rows), dtype=np.float32)
    return UserInputs(torch.from_numpy(data), SourceFile("inputs", folder.name or str(folder), digest.hexdigest()),
                      f"{len(files)} images of {folder.name or folder}")
