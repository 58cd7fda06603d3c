"""The interactive latent scatter: a plotly figure (3-D, or 2-D for a latent of size 1 or 2) in which hovering
a point shows its class and its image. Written as one self-contained HTML file (plotly.js inline, thumbnails
as data URIs), so it opens from disk with no server and no network."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from vaelab.data.images import to_pil
from vaelab.io.atomic import atomic_path
from vaelab.viz.figures import class_groups

# Plotly's hover box is SVG text and cannot hold an image, so a small panel in the bottom-left corner of the plot
# shows the hovered point's thumbnail instead. {plot_id} is filled in by plotly.
_HOVER_SCRIPT = """
(function () {
  var gd = document.getElementById('{plot_id}');
  if (!gd || !gd.on) { return; }
  var panel = document.createElement('div');
  panel.className = 'vaelab-hover-thumb';
  panel.style.cssText = 'position:absolute;bottom:8px;left:8px;z-index:10;display:none;padding:6px;' +
    'background:rgba(255,255,255,0.92);border:1px solid #bbb;border-radius:4px;font:12px sans-serif;text-align:center';
  var img = document.createElement('img');
  img.alt = 'hovered image';
  img.style.cssText = 'width:96px;height:96px;image-rendering:pixelated;display:block;margin:0 auto 4px';
  var caption = document.createElement('div');
  panel.appendChild(img);
  panel.appendChild(caption);
  if (getComputedStyle(gd).position === 'static') { gd.style.position = 'relative'; }
  gd.appendChild(panel);
  gd.on('plotly_hover', function (ev) {
    var cd = ev && ev.points && ev.points[0] && ev.points[0].customdata;
    if (!cd) { return; }
    img.src = cd[1];
    caption.textContent = cd[0];
    panel.style.display = 'block';
  });
})();
"""


def thumbnail_uris(images: np.ndarray) -> list[str]:
    """uint8 or [0,1] images (N, C, H, W) → PNG data URIs, one per image (a few hundred bytes at 28×28)."""
    uris = []
    for img in images:
        buf = io.BytesIO()
        to_pil(img).save(buf, format="PNG", compress_level=1)
        uris.append("data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return uris


def interactive_scatter(
    coords: np.ndarray,
    labels: np.ndarray | None,
    class_names: list[str] | None,
    axis_labels: list[str],
    thumbnails: list[str],
    title: str,
):
    """A plotly Figure of coords (N, 3) as a 3-D scatter, or (N, 2) as a 2-D one; one trace per class."""
    import plotly.graph_objects as go
    from matplotlib.colors import to_hex

    three_d = coords.shape[1] == 3
    fig = go.Figure()
    for idx, name, color in class_groups(len(coords), labels, class_names):
        rgb = to_hex(color)
        shown = name if name is not None else "image"
        custom = [[f"{shown} · #{i}", thumbnails[i]] for i in idx]
        common = dict(
            mode="markers",
            name=shown,
            customdata=custom,
            showlegend=name is not None,
            hovertemplate="%{customdata[0]}<extra></extra>",
        )
        if three_d:
            fig.add_trace(
                go.Scatter3d(
                    x=coords[idx, 0],
                    y=coords[idx, 1],
                    z=coords[idx, 2],
                    marker=dict(size=2.5, color=rgb, opacity=0.75),
                    **common,
                )
            )
        else:
            fig.add_trace(
                go.Scatter(x=coords[idx, 0], y=coords[idx, 1], marker=dict(size=5, color=rgb, opacity=0.7), **common)
            )
    fig.update_layout(
        title=title,
        height=720,
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(title="class", itemsizing="constant"),
        template="plotly_white",
    )
    if three_d:
        fig.update_layout(
            scene=dict(xaxis_title=axis_labels[0], yaxis_title=axis_labels[1], zaxis_title=axis_labels[2])
        )
    else:
        fig.update_layout(xaxis_title=axis_labels[0], yaxis_title=axis_labels[1])
    return fig


_CONFIG = {"displaylogo": False, "responsive": True}


def figure_div(fig, div_id: str = "latent-scatter") -> str:
    """An HTML fragment holding plotly.js (inline), the figure and its hover-thumbnail script."""
    return fig.to_html(full_html=False, include_plotlyjs=True, div_id=div_id, config=_CONFIG, post_script=_HOVER_SCRIPT)


def write_interactive_html(fig, path: str | Path, div_id: str = "latent-scatter") -> Path:
    """One self-contained HTML page with the figure, written under a temp name and renamed."""
    with atomic_path(path) as tmp:
        fig.write_html(
            tmp, include_plotlyjs=True, full_html=True, div_id=div_id, config=_CONFIG, post_script=_HOVER_SCRIPT
        )
    return Path(path)
