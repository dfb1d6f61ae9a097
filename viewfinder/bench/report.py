"""What ``viewfinder bench`` shows: the terminal table, the PNG chart, and ``compare``."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from viewfinder.bench.suite import validate


def format_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain text table: numeric columns right-aligned (their header too), text left."""
    cols = list(zip(headers, *rows, strict=True)) if rows else [(h,) for h in headers]
    widths = [max(len(str(c)) for c in col) for col in cols]
    numeric = [
        i > 0
        and any(str(c) for c in col[1:])
        and all(re.fullmatch(r"[-x\d.,()% ]*", str(c)) for c in col[1:])
        for i, col in enumerate(cols)
    ]

    def line(cells: Sequence[str]) -> str:
        out = [
            str(c).rjust(w) if num else str(c).ljust(w)
            for c, w, num in zip(cells, widths, numeric, strict=True)
        ]
        return "  ".join(out).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(headers), rule, *(line(r) for r in rows)])


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return ""
    if ms >= 100:
        return f"{ms:.0f}"
    if ms >= 10:
        return f"{ms:.1f}"
    if ms >= 1:
        return f"{ms:.2f}"
    return f"{ms:.3f}"


def fmt_x(x: float | None) -> str:
    if x is None:
        return ""
    return f"x{x:.2f}" if x < 10 else f"x{x:.0f}" if x >= 100 else f"x{x:.1f}"


def machine_line(payload: dict[str, Any]) -> str:
    m, o = payload["machine"], payload["options"]
    parts = [f"{m.get('cpu')} ({m.get('cpu_count')} cores)"]
    if m.get("gpu"):
        parts.append(
            f"{m['gpu']} (driver {m.get('gpu_driver')}, CUDA {m.get('cuda_runtime')}, "
            f"CuPy {m.get('cupy')})"
        )
    load = m.get("load_average") or []
    parts.append(f"backend {o.get('backend')}{' --quick' if o.get('quick') else ''}")
    if load:
        parts.append(f"load {load[0]:.2f}")
    parts.append(payload["started"][:16].replace("T", " "))
    return ", ".join(parts)


def run_table(payload: dict[str, Any]) -> str:
    """The terminal table of one run: every row with its median, spread and ratios."""
    by_id = {r["id"]: r for r in payload["rows"]}
    rows = []
    for r in payload["rows"]:
        peer = by_id.get(r["peer"]) if r["peer"] else None
        rows.append(
            [
                r["id"],
                fmt_ms(r["median_ms"]),
                f"{fmt_ms(r['p10_ms'])}-{fmt_ms(r['p90_ms'])}" if r["p10_ms"] is not None else "",
                fmt_x(r["x_peer"]),
                peer["impl"] if peer else "",
                fmt_x(r["x_roofline"]),
            ]
        )
    table = format_table(["what", "median ms", "p10-p90", "vs peer", "peer", "vs roofline"], rows)
    lines = [f"viewfinder bench: {machine_line(payload)}", table]
    roof = payload.get("roofline")
    lines.append(
        "vs peer: our median over the peer's (same size, same run; above 1 = slower than the "
        "peer); vs roofline: over the time the bytes it must move take at "
        + (f"{roof['gb_per_s']:.1f} GB/s ({roof['impl']})" if roof else "the copy bandwidth")
    )
    lines += [f"note: {n}" for n in payload["notes"]]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Charts


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def chart(payload: dict[str, Any], path: str | Path) -> Path:
    """A PNG of one run: end to end and demosaic times per size against the peers and the
    roofline (log scale), the per-stage split, and the sensor, view and capture figures."""
    plt = _plt()
    rows = payload["rows"]
    pipe = [r for r in rows if r["suite"] == "pipeline" and r["size"]]
    sizes = list(dict.fromkeys(r["size"] for r in pipe))
    other = [r for r in rows if r["suite"] in ("sim", "view", "capture")]
    panels = (2 if sizes else 0) + (1 if other else 0)
    if not panels:
        panels = 1
    fig, axes = plt.subplots(panels, 1, figsize=(14, 4.6 * panels), squeeze=False)
    axes = list(axes[:, 0])
    fig.suptitle(f"viewfinder bench — {machine_line(payload)}", fontsize=10)
    if sizes:
        _pipeline_panel(axes.pop(0), pipe, sizes)
        _stage_panel(axes.pop(0), pipe, sizes)
    if other:
        _other_panel(axes.pop(0), other)
    for ax in axes:
        ax.text(0.5, 0.5, "no rows", ha="center", va="center")
        ax.set_axis_off()
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _first_view(pipe: list[dict[str, Any]], size: str) -> str | None:
    for r in pipe:
        if r["size"] == size and r["stage"] == "total":
            return r["case"].split(" ")[0]
    return None


def _pipeline_panel(ax: Any, pipe: list[dict[str, Any]], sizes: list[str]) -> None:
    import numpy as np

    series: dict[str, dict[str, float]] = {}
    roof: dict[str, float] = {}
    for size in sizes:
        view = _first_view(pipe, size)
        for r in pipe:
            if r["size"] != size:
                continue
            if r["kind"] == "ours" and r["stage"] == "total" and r["case"].startswith(view or "-"):
                label = f"viewfinder, {r['case'].partition(' ')[2] or r['case']} (end to end)"
                series.setdefault(label, {})[size] = r["median_ms"]
                if r["case"].endswith("default assists") and r["roofline_ms"]:
                    roof[size] = r["roofline_ms"]
            elif r["kind"] == "ours" and r["stage"] == "demosaic":
                series.setdefault("viewfinder demosaic mhc (stage alone)", {})[size] = r[
                    "median_ms"
                ]
            elif r["kind"] == "peer":
                series.setdefault(f"peer: {r['impl']}", {})[size] = r["median_ms"]
    n = max(1, len(series))
    width = 0.8 / n
    x = np.arange(len(sizes))
    cmap = _plt().get_cmap("tab20")
    for i, (label, vals) in enumerate(series.items()):
        ys = [vals.get(s, np.nan) for s in sizes]
        hatch = "//" if label.startswith("peer") else None
        ax.bar(x - 0.4 + width * (i + 0.5), ys, width, label=label, color=cmap(i % 20), hatch=hatch)
    for j, size in enumerate(sizes):
        if size in roof:
            ax.hlines(
                roof[size],
                j - 0.4,
                j + 0.4,
                colors="k",
                linestyles="--",
                linewidth=1.2,
                label="roofline: raw in + view out at copy bandwidth" if j == 0 else None,
            )
    ax.set_xticks(x, sizes)
    ax.set_yscale("log")
    ax.set_ylabel("ms (log), lower is better")
    ax.set_title("Pipeline end to end (first view) and demosaic, ours vs peers")
    ax.grid(axis="y", which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _stage_panel(ax: Any, pipe: list[dict[str, Any]], sizes: list[str]) -> None:
    import numpy as np

    bars: list[tuple[str, dict[str, float]]] = []
    stages: list[str] = []
    for size in sizes:
        view = _first_view(pipe, size)
        for assists in ("default assists", "all assists"):
            case = f"{view} {assists}"
            parts = {
                r["stage"]: r["median_ms"]
                for r in pipe
                if r["size"] == size and r["case"] == case and r["stage"] != "total"
            }
            if parts:
                bars.append((f"{size}\n{assists.split()[0]}", parts))
                stages += [s for s in parts if s not in stages]
    x = np.arange(len(bars))
    bottom = np.zeros(len(bars))
    cmap = _plt().get_cmap("Set2")
    for i, stage in enumerate(stages):
        ys = np.array([b[1].get(stage, 0.0) for b in bars])
        ax.bar(x, ys, 0.6, bottom=bottom, label=stage, color=cmap(i % 8))
        bottom += ys
    ax.set_xticks(x, [b[0] for b in bars], fontsize=8)
    ax.set_ylabel("ms, lower is better")
    ax.set_title("Per stage (median of each stage), default and all assists")
    ax.grid(axis="y", alpha=0.3)
    if stages:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _other_panel(ax: Any, other: list[dict[str, Any]]) -> None:
    colors = {"ours": "tab:blue", "peer": "tab:orange", "roofline": "k"}
    labels = [r["id"] for r in other]
    ys = range(len(other))
    ax.barh(list(ys), [r["median_ms"] for r in other], color=[colors[r["kind"]] for r in other])
    ax.set_yticks(list(ys), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ms (log), lower is better; blue ours, orange peers")
    ax.set_title("Simulated sensor read, view presentation, capture writes")
    ax.grid(axis="x", which="both", alpha=0.3)


# ---------------------------------------------------------------------------------------------
# compare


def load(path: str | Path) -> dict[str, Any]:
    """A result JSON, validated; ValueError (one line) naming the file and the problem."""
    p = Path(path)
    try:
        payload = json.loads(p.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read {p}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{p} is not JSON: {exc}") from None
    try:
        return validate(payload)
    except ValueError as exc:
        raise ValueError(f"{p}: {exc}") from None


def run_letters(n: int) -> list[str]:
    return [chr(ord("A") + i) if i < 26 else f"R{i + 1}" for i in range(n)]


def compare_table(payloads: Sequence[dict[str, Any]], names: Sequence[str] | None = None) -> str:
    """Side by side: each run's median per row id, and each later run's ratio to the first
    (above 1: slower than the first). Rows in the order they first appear."""
    if len(payloads) < 2:
        raise ValueError("compare needs two or more result files")
    letters = run_letters(len(payloads))
    names = list(names or [p["started"] for p in payloads])
    indexed = [{r["id"]: r for r in p["rows"]} for p in payloads]
    ids: list[str] = []
    for p in payloads:
        ids += [r["id"] for r in p["rows"] if r["id"] not in ids]
    headers = ["what"]
    for i, letter in enumerate(letters):
        headers.append(f"{letter} ms")
        if i:
            headers.append(f"{letter}/A")
    rows = []
    for rid in ids:
        base = indexed[0].get(rid)
        cells = [rid]
        for i, idx in enumerate(indexed):
            r = idx.get(rid)
            cells.append(fmt_ms(r["median_ms"]) if r else "-")
            if i:
                ratio = (
                    r["median_ms"] / base["median_ms"] if r and base and base["median_ms"] else None
                )
                cells.append(f"{ratio:.2f}" if ratio is not None else "")
        rows.append(cells)
    lines = [
        f"{letter}: {name} — {machine_line(p)}"
        for letter, name, p in zip(letters, names, payloads, strict=True)
    ]
    lines.append(format_table(headers, rows))
    lines.append("X/A: run X's median over run A's (above 1: slower than A); - : not in that run")
    return "\n".join(lines)


def compare_chart(
    payloads: Sequence[dict[str, Any]], path: str | Path, names: Sequence[str] | None = None
) -> Path:
    """Grouped horizontal bars (log ms) of the rows in two or more runs, one colour a run."""
    import numpy as np

    plt = _plt()
    letters = run_letters(len(payloads))
    indexed = [{r["id"]: r for r in p["rows"]} for p in payloads]
    ids = [
        r["id"]
        for r in payloads[0]["rows"]
        if sum(r["id"] in idx for idx in indexed) >= 2 and r["kind"] != "roofline"
    ]
    n = len(payloads)
    fig, ax = plt.subplots(figsize=(12, max(3.0, 0.22 * len(ids) * max(2, n) / 2 + 1.5)))
    y = np.arange(len(ids))
    h = 0.8 / n
    names = list(names or [p["started"] for p in payloads])
    for i, (idx, letter) in enumerate(zip(indexed, letters, strict=True)):
        xs = [idx[rid]["median_ms"] if rid in idx else np.nan for rid in ids]
        label = f"{letter}: {names[i]} ({machine_line(payloads[i])})"
        ax.barh(y - 0.4 + h * (i + 0.5), xs, h, label=label)
    ax.set_yticks(y, ids, fontsize=6)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("median ms (log), lower is better")
    ax.set_title(f"viewfinder bench compare: {len(payloads)} runs, rows in two or more")
    ax.grid(axis="x", which="both", alpha=0.3)
    fig.legend(fontsize=7, loc="lower center")  # below the axis: the bars stay clear
    height = fig.get_size_inches()[1]
    fig.tight_layout(rect=(0, min(0.4, (0.16 * n + 0.15) / height), 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
