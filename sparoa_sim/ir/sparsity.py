"""Where a graph's activation sparsity came from: the ``sparsity_provenance`` record (IR schema 3).

The figures of a graph mean different things by source (docs/architecture.md §2): ``init`` is the
sparsity of random initialisation on N(0, 1) inputs (what every graph before schema 3 holds),
``measured`` that of a user's trained weights on their own inputs (files named with their sha256),
``published`` per-layer values of trained networks from the literature (cited), ``synthetic`` drawn
by ``ir.synthetic``. The record travels with the figures, beside the free-text ``sparsity_source``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sparoa_sim.errors import GraphError

__all__ = ["SPARSITY_KINDS", "act_sweep_shape", "pattern_reuse", "SourceFile", "SparsityProvenance", "default_provenance", "draw_act_sparsity",
           "provenance_from_dict", "with_act_sparsity"]

#: The sources of activation sparsity a graph can record.
SPARSITY_KINDS = ("init", "measured", "published", "synthetic", "unknown")
#: Roles a file plays in a provenance record.
FILE_ROLES = ("weights", "inputs", "data")
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: Spreads at or below this are drawn as no spread (a beta distribution that narrow is its mean).
MIN_DRAW_STD = 1e-6


@dataclass(frozen=True)
class SourceFile:
    """A file the sparsity figures were computed from: its role, base name and sha256 (hex)."""

    role: str
    name: str
    sha256: str

    def to_dict(self) -> dict[str, str]:
        """Plain JSON-able dict."""
        return {"role": self.role, "name": self.name, "sha256": self.sha256}


@dataclass(frozen=True)
class SparsityProvenance:
    """Where the activation sparsity of a graph came from.

    ``samples``: inputs each operator's figure was averaged over (0 where not measured here);
    ``reference``: the citation (URL) of published figures.
    """

    kind: str = "unknown"
    files: tuple[SourceFile, ...] = ()
    samples: int = 0
    reference: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", tuple(self.files))
        self.validate("<memory>")

    def validate(self, where: str) -> None:
        """Raise :class:`GraphError` naming ``where`` and the field on a bad record."""
        if self.kind not in SPARSITY_KINDS:
            raise GraphError(f"{where}: field 'sparsity_provenance.kind' is {self.kind!r} "
                             f"(known: {', '.join(SPARSITY_KINDS)})")
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 0:
            raise GraphError(f"{where}: field 'sparsity_provenance.samples' must be a non-negative integer, "
                             f"got {self.samples!r}")
        if not isinstance(self.reference, str):
            raise GraphError(f"{where}: field 'sparsity_provenance.reference' must be a string, got {self.reference!r}")
        for f in self.files:
            if not isinstance(f, SourceFile):
                raise GraphError(f"{where}: field 'sparsity_provenance.files' holds {f!r}, not a SourceFile")
            if f.role not in FILE_ROLES:
                raise GraphError(f"{where}: field 'sparsity_provenance.files' role is {f.role!r} "
                                 f"(known: {', '.join(FILE_ROLES)})")
            if not isinstance(f.name, str) or not f.name:
                raise GraphError(f"{where}: field 'sparsity_provenance.files' name must be a non-empty string, "
                                 f"got {f.name!r}")
            if not isinstance(f.sha256, str) or not _SHA256.fullmatch(f.sha256):
                raise GraphError(f"{where}: field 'sparsity_provenance.files' sha256 of {f.name!r} must be 64 "
                                 f"lower-case hex digits, got {f.sha256!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the ``sparsity_provenance`` object of a graph file)."""
        return {"kind": self.kind, "files": [f.to_dict() for f in self.files], "samples": self.samples,
                "reference": self.reference}


def default_provenance(sparsity_source: str) -> SparsityProvenance:
    """The record of a graph that carries none (schema 1-2 files, graphs built in memory): ``init``
    when its text says random initialisation (what every extractor before schema 3 wrote),
    ``synthetic`` for ``ir.synthetic``'s graphs, else ``unknown``."""
    text = sparsity_source if isinstance(sparsity_source, str) else ""
    if text.startswith("random initialisation"):
        return SparsityProvenance(kind="init")
    if text.startswith("synthetic"):
        return SparsityProvenance(kind="synthetic")
    return SparsityProvenance()


def provenance_from_dict(doc: Any, where: str) -> SparsityProvenance:
    """Parse the ``sparsity_provenance`` object of a graph file; errors name ``where`` and the field."""
    if not isinstance(doc, dict):
        raise GraphError(f"{where}: field 'sparsity_provenance' must be an object, got {doc!r}")
    unknown = sorted(set(doc) - {"kind", "files", "samples", "reference"})
    if unknown:
        raise GraphError(f"{where}: field 'sparsity_provenance' has unknown key(s) {', '.join(map(repr, unknown))}")
    raw_files = doc.get("files", [])
    if not isinstance(raw_files, list):
        raise GraphError(f"{where}: field 'sparsity_provenance.files' must be a list, got {raw_files!r}")
    files = []
    for raw in raw_files:
        if not isinstance(raw, dict) or set(raw) != {"role", "name", "sha256"}:
            raise GraphError(f"{where}: field 'sparsity_provenance.files' entries need exactly role, name and "
                             f"sha256, got {raw!r}")
        files.append(SourceFile(raw["role"], raw["name"], raw["sha256"]))
    record = SparsityProvenance.__new__(SparsityProvenance)  # validated below, naming the file
    for key, value in (("kind", doc.get("kind", "unknown")), ("files", tuple(files)),
                       ("samples", doc.get("samples", 0)), ("reference", doc.get("reference", ""))):
        object.__setattr__(record, key, value)
    record.validate(where)
    return record


def draw_act_sparsity(mean: np.ndarray, std: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """``size`` draws of per-operator activation sparsity, shape (size, n_ops), for per-request
    sparsity ("input data characteristics"): each operator's figure from a beta distribution with
    its recorded mean and spread (the spread capped just below the largest a fraction with that
    mean can have); an operator with a spread of at most ``MIN_DRAW_STD`` keeps its mean exactly.
    Values lie in [0, 1]."""
    m = np.clip(np.asarray(mean, dtype=np.float64), 0.0, 1.0)
    s = np.asarray(std, dtype=np.float64)
    if m.shape != s.shape or m.ndim != 1:
        raise GraphError(f"draw_act_sparsity: mean and std must be 1-d of one length, got {m.shape} and {s.shape}")
    if (s < 0).any() or not np.isfinite(s).all():
        raise GraphError("draw_act_sparsity: std must be finite and non-negative")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
        raise GraphError(f"draw_act_sparsity: size must be a non-negative integer, got {size!r}")
    out = np.broadcast_to(m, (int(size), m.size)).copy()
    var_max = m * (1.0 - m)
    spread = (s > MIN_DRAW_STD) & (var_max > MIN_DRAW_STD**2)
    if spread.any():
        mm, var = m[spread], np.minimum(s[spread] ** 2, 0.999 * var_max[spread])
        k = mm * (1.0 - mm) / var - 1.0  # alpha + beta of the beta distribution with this mean and variance
        out[:, spread] = rng.beta(mm * k, (1.0 - mm) * k, size=(int(size), mm.size))
    return out


def with_act_sparsity(graph: Any, value: float, *, kinds: Sequence[str] = ("linear", "matmul"),
                      ops: Sequence[int] | None = None, std: float = 0.0, label: str | None = None,
                      reuse: float = 0.0) -> Any:
    """A copy of ``graph`` whose operators of ``kinds`` (or exactly the indices ``ops``) have activation
    sparsity ``value`` (spread ``std``, pattern reuse ``reuse``: 0 = random patterns), named ``<name>_act<NN>`` (or ``label``), its ``sparsity_source``
    saying so and its provenance ``synthetic`` — a what-if graph for "placement follows sparsity"."""
    from dataclasses import replace

    from sparoa_sim.hwmodels.kinds import OpKind

    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) <= 1.0:
        raise GraphError(f"with_act_sparsity: field 'value' must be a number in [0, 1], got {value!r}")
    if isinstance(std, bool) or not isinstance(std, (int, float)) or not 0.0 <= float(std) <= 0.5:
        raise GraphError(f"with_act_sparsity: field 'std' must be a number in [0, 0.5], got {std!r}")
    if isinstance(reuse, bool) or not isinstance(reuse, (int, float)) or not 0.0 <= float(reuse) <= 1.0:
        raise GraphError(f"with_act_sparsity: field 'reuse' must be a number in [0, 1], got {reuse!r}")
    n = len(graph.ops)
    if ops is not None:
        bad = [i for i in ops if isinstance(i, bool) or not isinstance(i, (int, np.integer)) or not 0 <= int(i) < n]
        if bad:
            raise GraphError(f"with_act_sparsity: field 'ops' lists {bad[0]!r}, not an operator index in [0, {n})")
        chosen = {int(i) for i in ops}
    else:
        try:
            wanted = {OpKind(k) for k in kinds}
        except ValueError:
            raise GraphError(f"with_act_sparsity: field 'kinds' has an unknown kind in {list(kinds)!r}") from None
        chosen = {i for i, op in enumerate(graph.ops) if op.kind in wanted}
    new = tuple(replace(op, act_sparsity=float(value), act_sparsity_std=float(std), act_reuse=float(reuse))
                if i in chosen else op
                for i, op in enumerate(graph.ops))
    what = f"operators {sorted(chosen)}" if ops is not None else f"every {'/'.join(kinds)} operator"
    also = f", pattern reuse {float(reuse):g}" if reuse else ""
    text = (f"synthetic what-if: activation sparsity {float(value):g} (spread {float(std):g}{also}) on {what} "
            f"({len(chosen)} of {n}); other operators keep: {graph.sparsity_source}")
    name = label or f"{graph.name}_act{int(round(float(value) * 100)):02d}"
    return graph.with_ops(new, name=name, sparsity_source=text, sparsity_provenance=SparsityProvenance(kind="synthetic"))


def act_sweep_shape(op: Any) -> tuple[str, int, int, int, int] | None:
    """An operator as the activation-sparse sweep names a shape: (kind, groups, rows, inner, outer),
    batch 1; None for kinds the sweep does not time (only linear and matmul are)."""
    kind = getattr(op.kind, "value", op.kind)
    shape = tuple(int(d) for d in op.out_shape)
    if kind not in ("linear", "matmul") or len(shape) < 2 or op.macs <= 0:
        return None
    lead = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    if kind == "linear":
        groups, rows, outer = 1, lead * shape[-2], shape[-1]
    else:
        groups, rows, outer = lead, shape[-2], shape[-1]
    inner = int(round(op.macs / (groups * rows * outer)))
    return (kind, groups, rows, inner, outer)


def pattern_reuse(masks: np.ndarray) -> float:
    """How far a layer's pattern of non-zero inputs repeats across inputs beyond chance, ρ in [0, 1].

    ``masks``: (inputs, features) booleans, True where the input is non-zero (≥ 2 inputs). For each
    ordered pair the share of one input's non-zeros that are non-zero in the other too is ``o``;
    independent patterns of density d give ``o = d`` and the same pattern ``o = 1``, so
    ``ρ = (mean o − d) / (1 − d)``, clipped to [0, 1] (1 where every input is dense). It is the
    activation-sparse kernel's cache input (``hwmodels.latency``, ``act_reuse``).
    """
    m = np.asarray(masks)
    if m.ndim != 2 or m.shape[0] < 2 or m.shape[1] < 1:
        raise GraphError(f"pattern_reuse: masks must be (inputs >= 2, features >= 1), got shape {m.shape}")
    m = m.reshape(m.shape[0], -1).astype(np.float64)
    d = float(m.mean())
    if d >= 1.0:
        return 1.0
    if d <= 0.0:
        return 0.0
    nz = m.sum(axis=1)
    both = m @ m.T
    shares = [both[i, j] / nz[i] for i in range(len(m)) for j in range(len(m)) if i != j and nz[i] > 0]
    if not shares:
        return 0.0
    return float(np.clip((np.mean(shares) - d) / (1.0 - d), 0.0, 1.0))
