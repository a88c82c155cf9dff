"""A picture of physical memory: one cell per frame, coloured by what it holds
(``sim.highorder.FRAME_KINDS``), rows of one order-9 block (2 MiB), so a block a huge page
could use is a row with one colour."""
from __future__ import annotations

import io

import numpy as np

from rmapsim.sim.highorder import FRAME_KINDS

COLOURS = ("#ffffff", "#d62728", "#1f77b4", "#2ca02c", "#000000", "#ff7f0e", "#9467bd")
ROW = 512


def plot_maps(maps: dict, title: str) -> bytes:
    """PNG bytes: one panel per run (name -> frame kinds)."""
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.colors import ListedColormap
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch
    fig = Figure(figsize=(3.2 * len(maps), 3.6), dpi=100)
    cmap = ListedColormap(COLOURS)
    for i, (name, kinds) in enumerate(maps.items()):
        k = np.asarray(kinds)
        rows = -(-len(k) // ROW)
        grid = np.zeros(rows * ROW, np.int8)
        grid[:len(k)] = k
        ax = fig.add_subplot(1, len(maps), i + 1)
        ax.imshow(grid.reshape(rows, ROW), cmap=cmap, vmin=0, vmax=len(COLOURS) - 1,
                  aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("frame within 2 MiB block", fontsize=7)
        ax.set_ylabel("block", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.legend(handles=[Patch(facecolor=c, edgecolor="grey", label=n)
                        for c, n in zip(COLOURS, FRAME_KINDS)], loc="lower center",
               ncol=len(FRAME_KINDS), fontsize=7)
    fig.suptitle(f"{title}: physical memory at the end", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
