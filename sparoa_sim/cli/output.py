"""What every ``sparoa`` command prints, decided in one place (docs/architecture.md §9).

A reporting command builds one JSON-ready ``doc`` and hands it to :func:`emit` with a renderer:
with ``--json`` exactly one JSON object goes to stdout; without it, the renderer's tables and
lines go to a rich console. Everything shown comes from user input or from files the user gave
(paths, workload and profile names, operator names, ``--name`` values), so nothing printed here
is read as rich markup: lines, table cells, titles and captions become :class:`rich.text.Text`
(literal), and :func:`escape` covers the rare markup string built on purpose. Error lines go
through :func:`error_line`: one plain line on stderr, never markup, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sparoa_sim.errors import SparOAError

if TYPE_CHECKING:  # rich is imported on first use: `import sparoa_sim.cli` stays quick
    from rich.console import Console, RenderableType
    from rich.table import Table
    from rich.text import Text

__all__ = ["console", "emit", "error_line", "escape", "fmt", "print_json", "table", "text"]

#: What a renderer yields: rich renderables (tables), plain strings (printed literally) or None (skipped).
Item = Any


def print_json(obj: Any) -> None:
    """``--json``: exactly one JSON object on stdout (NaN refused: a clear error, exit 2)."""
    try:
        out = json.dumps(obj, allow_nan=False)
    except ValueError:
        raise SparOAError("the result holds a non-finite number (an overflow from extreme values in the "
                          "graph or profile?): nothing printed") from None
    sys.stdout.write(out + "\n")


def console() -> Console:
    """A rich console; piped output (CI logs, ``| less``) gets a wide table, not rich's 80 columns."""
    from rich.console import Console

    return Console() if sys.stdout.isatty() else Console(width=200)


def escape(value: object) -> str:
    """``value`` as a markup string that rich shows literally (``[`` escaped)."""
    from rich.markup import escape as rich_escape

    return rich_escape(str(value))


def text(value: object) -> Text:
    """``value`` as rich text shown literally: no markup, no emoji codes."""
    from rich.text import Text

    return value if isinstance(value, Text) else Text(str(value))


def table(columns: Sequence[str], rows: Iterable[Sequence[object]], *, title: object = None,
          caption: object = None, left: Collection[str] = ()) -> Table:
    """A rich table whose every cell, header, title and caption is literal text.

    ``columns`` name the columns; those in ``left`` are left-justified, the rest right-justified
    (numbers). Cells are shown as ``str(cell)``.
    """
    from rich.table import Table

    out = Table(title=None if title is None else text(title), caption=None if caption is None else text(caption))
    for col in columns:
        out.add_column(text(col), justify="left" if col in left else "right")
    for row in rows:
        out.add_row(*(text(cell) for cell in row))
    return out


def emit(doc: dict[str, Any] | Callable[[], dict[str, Any]], as_json: bool,
         render: Callable[[], Iterable[Item]]) -> int:
    """Print ``doc`` as one JSON object (``as_json``) or what ``render()`` yields; return exit status 0.

    ``doc`` may be a function building it, called only for ``--json``. Strings from the renderer
    are printed literally and unwrapped (a long path stays whole); ``None`` items are skipped, so
    a renderer may yield optional lines inline.
    """
    if as_json:
        print_json(doc() if callable(doc) else doc)
        return 0
    out = console()
    for item in render():
        if item is None:
            continue
        if isinstance(item, str):
            out.print(text(item), soft_wrap=True)
        else:
            out.print(item)
    return 0


def error_line(message: object) -> None:
    """``message`` as one plain line on stderr (line breaks inside it become spaces; no markup)."""
    line = " ".join(str(message).splitlines())
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def fmt(x: float, unit: str = "") -> str:
    """Compact engineering notation: 1.23 G, 45.6 k…"""
    for scale, prefix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{prefix}{unit}"
    return f"{x:.3g}{unit}"
