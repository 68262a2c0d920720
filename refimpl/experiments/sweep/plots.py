"""The sweep report's PNGs: heatmaps over two settings, and batch-size sensitivity curves.

matplotlib is optional (``pip install -e .[plots]``) and imported inside the functions with
the Agg backend. Input is the per-entry summary of :func:`~refimpl.experiments.sweep.summary.
summarise`.

- :func:`heatmaps`: for an entry with a heatmap pair (``mass`` × ``lr`` by default), one PNG per
  combination of its other varied settings, two panels: final test accuracy (mean over seeds,
  ± standard error, diverged seeds counted) and training seconds to the target (mean over
  the seeds that reached it; log colour scale).
- :func:`batch_curves`: for an entry whose grid varies ``batch_size``, final accuracy and time
  to target against the batch size, one line per combination of its other varied settings.
- :func:`batch_overview`: the same two panels with one line per such entry, each at the
  setting of its other varied settings with the best mean accuracy over the batch sizes.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def heatmaps(name: str, entry: dict, out, target: float) -> list[Path]:
    """Write the entry's heatmap PNGs into ``out``; return their paths."""
    if not entry.get("heatmap") or not _has_results(entry):
        return []
    plt = _plt()
    from matplotlib.colors import LogNorm
    from matplotlib.ticker import FormatStrFormatter

    ykey, xkey = entry["heatmap"]
    others = [k for k in entry["varied"] if k not in (ykey, xkey)]
    paths = []
    for label, rows in slices(entry["rows"], others).items():
        ys, xs = axis_values(rows, ykey), axis_values(rows, xkey)
        acc = np.full((len(ys), len(xs)), np.nan)
        secs = np.full_like(acc, np.nan)
        text_acc = [["" for _ in xs] for _ in ys]
        text_sec = [["" for _ in xs] for _ in ys]
        for r in rows:
            i, j = ys.index(_key(r["settings"][ykey])), xs.index(_key(r["settings"][xkey]))
            text_acc[i][j], text_sec[i][j] = _cell_texts(r)
            if r["accuracy"]["mean"] is not None:
                acc[i, j] = 100 * r["accuracy"]["mean"]
            if r["seconds_to_target"]["mean"] is not None:
                secs[i, j] = r["seconds_to_target"]["mean"]
        fig, axes = plt.subplots(1, 2, figsize=(4.2 + 1.5 * len(xs), 1.6 + 0.75 * len(ys)),
                                 dpi=110, constrained_layout=True)
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.85")
        finite, sfin = acc[np.isfinite(acc)], secs[np.isfinite(secs)]
        vmin, vmax = ((float(finite.min()), max(float(finite.max()), float(finite.min()) + 1))
                      if finite.size else (0.0, 100.0))
        im = axes[0].imshow(np.ma.masked_invalid(acc), cmap=cmap, aspect="auto", vmin=vmin,
                            vmax=vmax)
        fig.colorbar(im, ax=axes[0], label="final test accuracy (%)")
        tcmap = plt.get_cmap("magma_r").with_extremes(bad="0.85")
        norm = None
        if sfin.size and sfin.min() > 0:
            norm = LogNorm(vmin=float(sfin.min()), vmax=max(float(sfin.max()),
                                                            1.01 * float(sfin.min())))
        im2 = axes[1].imshow(np.ma.masked_invalid(secs), cmap=tcmap, aspect="auto", norm=norm)
        if sfin.size:
            bar = fig.colorbar(im2, ax=axes[1], label=f"seconds to {100 * target:g}% (training)")
            bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
            bar.ax.yaxis.set_minor_formatter(FormatStrFormatter("%g"))
        for ax, texts, title in ((axes[0], text_acc, "final test accuracy"),
                                 (axes[1], text_sec, f"time to {100 * target:g}% test accuracy")):
            for i in range(len(ys)):
                for j in range(len(xs)):
                    ax.text(j, i, texts[i][j], ha="center", va="center", fontsize=7,
                            color="black", bbox=dict(boxstyle="round,pad=0.15", fc="white",
                                                     ec="none", alpha=0.6))
            ax.set_xticks(range(len(xs)), [_fmt(x) for x in xs])
            ax.set_yticks(range(len(ys)), [_fmt(y) for y in ys])
            ax.set_xlabel(xkey)
            ax.set_ylabel(ykey)
            ax.set_title(title, fontsize=9)
        fig.suptitle(f"{entry['title']}{' — ' + label if label else ''}", fontsize=10)
        path = Path(out) / f"heatmap-{_slug(name)}{'-' + _slug(label) if label else ''}.png"
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths


def batch_curves(name: str, entry: dict, out, target: float) -> Path | None:
    """Write the entry's batch-size PNG into ``out`` (``None`` if it does not vary it)."""
    if "batch_size" not in entry["varied"] or not _has_results(entry):
        return None
    others = [k for k in entry["varied"] if k != "batch_size"]
    lines = {label or entry["title"]: sorted(rows, key=lambda r: r["settings"]["batch_size"])
             for label, rows in slices(entry["rows"], others).items()}
    path = Path(out) / f"batch_size-{_slug(name)}.png"
    _batch_figure(lines, path, entry["title"], target)
    return path


def batch_overview(entries: dict, out, target: float) -> Path | None:
    """One line per entry that varies ``batch_size``, at its best other settings."""
    lines = {}
    for entry in entries.values():
        if "batch_size" not in entry["varied"] or not _has_results(entry):
            continue
        others = [k for k in entry["varied"] if k != "batch_size"]
        best_label, best_rows, best = None, None, -math.inf
        for label, rows in slices(entry["rows"], others).items():
            means = [r["accuracy"]["mean"] for r in rows if r["accuracy"]["mean"] is not None]
            score = sum(means) / len(means) if means and len(means) == len(rows) else -math.inf
            if score > best or best_rows is None:
                best_label, best_rows, best = label, rows, score
        label = entry["title"] + (f" ({best_label})" if best_label else "")
        lines[label] = sorted(best_rows, key=lambda r: r["settings"]["batch_size"])
    if not lines:
        return None
    path = Path(out) / "batch_size.png"
    _batch_figure(lines, path, "Sensitivity to the batch size (best other settings)", target)
    return path


def _batch_figure(lines: dict, path: Path, title: str, target: float) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, constrained_layout=True)
    timed = False
    for label, rows in lines.items():
        b = [r["settings"]["batch_size"] for r in rows]
        for ax, field, scale in ((axes[0], "accuracy", 100.0), (axes[1], "seconds_to_target",
                                                                1.0)):
            m = [np.nan if r[field]["mean"] is None else scale * r[field]["mean"]
                 for r in rows]
            e = [0.0 if r[field]["se"] is None else scale * r[field]["se"] for r in rows]
            ax.errorbar(b, m, yerr=e, marker="o", ms=4, capsize=3, lw=1.4, label=label)
            timed |= field == "seconds_to_target" and any(v > 0 for v in m)
    axes[0].set_ylabel("final test accuracy (%)  (mean ± s.e.)")
    axes[1].set_ylabel(f"training seconds to {100 * target:g}%  (mean ± s.e.)")
    if timed:
        axes[1].set_yscale("log")
    sizes = sorted({r["settings"]["batch_size"] for rows in lines.values() for r in rows})
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sizes, [str(b) for b in sizes])
        ax.minorticks_off()
        ax.set_xlabel("batch size")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    fig.suptitle(title, fontsize=10)
    fig.savefig(path)
    plt.close(fig)


def slices(rows: list, keys: list) -> dict:
    """Rows grouped by their values of ``keys``: ``{"lr=1, mass=0.01": [rows]}`` in order."""
    out: dict = {}
    for r in rows:
        label = ", ".join(f"{k}={_fmt(r['settings'][k])}" for k in keys)
        out.setdefault(label, []).append(r)
    return out


def axis_values(rows: list, key: str) -> list:
    """The distinct values of setting ``key`` in ``rows``, sorted when they are numbers."""
    values = []
    for r in rows:
        v = _key(r["settings"][key])
        if v not in values:
            values.append(v)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        values.sort()
    return values


def _has_results(entry: dict) -> bool:
    return any(r["finished"] for r in entry["rows"])


def _cell_texts(r: dict) -> tuple[str, str]:
    acc, sec = r["accuracy"], r["seconds_to_target"]
    if r["ok"] == 0:
        a = "diverged" if r["diverged"] else ("error" if r["error"] else "–")
    else:
        a = f"{100 * acc['mean']:.1f}" + (f"\n±{100 * acc['se']:.1f}"
                                          if acc["se"] is not None else "")
        if r["diverged"]:
            a += f"\n{r['diverged']} div."
    if r["reached"] == 0:
        s = "not reached" if r["finished"] else "–"
    else:
        s = f"{sec['mean']:.3g} s"
        if r["reached"] < r["finished"]:
            s += f"\n{r['reached']}/{r['finished']}"
    return a, s


def _key(value):
    return tuple(value) if isinstance(value, list) else value


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "-".join(map(str, value))
    return str(value)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", text).strip("-").lower()
