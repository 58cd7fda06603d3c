"""The HTML report page: one self-contained file (figures as data URIs, plotly.js inline) that opens from
disk with no server and no network. This module only lays out what it is given."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

from vaelab.io.atomic import write_text_atomic

_MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}

_CSS = """
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; margin: 0; background: #fafafa; }
main { max-width: 1180px; margin: 0 auto; padding: 24px 32px 64px; background: #fff; }
h1 { margin: 0 0 4px; font-size: 26px; } h2 { margin-top: 40px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { margin: 24px 0 6px; font-size: 17px; } .sub { color: #666; margin: 0 0 16px; }
nav { font-size: 14px; margin: 12px 0 8px; } nav a { margin-right: 14px; color: #3b6ea8; }
table { border-collapse: collapse; margin: 8px 24px 8px 0; font-size: 14px; vertical-align: top;
        display: inline-table; }
th, td { text-align: left; padding: 3px 12px 3px 0; border-bottom: 1px solid #eee; }
th { color: #555; font-weight: 600; }
caption { text-align: left; font-weight: 600; padding-bottom: 4px; }
figure { margin: 12px 0 28px; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: 14px; max-width: 900px; margin-top: 4px; }
img.pixels { image-rendering: pixelated; } .note { color: #777; font-style: italic; }
"""


@dataclass
class Figure:
    """One figure of the report: an image file (PNG or GIF), or a ready HTML fragment (the plotly div)."""

    title: str
    caption: str = ""
    path: Path | None = None
    html: str | None = None
    pixelated: bool = False  # small decoded images: scale them up without blurring


@dataclass
class Section:
    title: str
    figures: list[Figure] = field(default_factory=list)
    tables: dict[str, dict] = field(default_factory=dict)  # table caption → {row name: value}
    note: str = ""


def data_uri(path: str | Path) -> str:
    """A file as a base64 data URI (its MIME type from the suffix)."""
    path = Path(path)
    return f"data:{_MIME[path.suffix.lower()]};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _anchor(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")


def _table(caption: str, rows: dict) -> str:
    body = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows.items())
    return f"<table><caption>{html.escape(caption)}</caption>{body}</table>"


def _figure(fig: Figure) -> str:
    parts = [f"<h3>{html.escape(fig.title)}</h3>"]
    if fig.html is not None:
        parts.append(fig.html)
    elif fig.path is not None:
        cls = ' class="pixels"' if fig.pixelated else ""
        parts.append(f'<img{cls} src="{data_uri(fig.path)}" alt="{html.escape(fig.title)}">')
    if fig.caption:
        parts.append(f"<figcaption>{html.escape(fig.caption)}</figcaption>")
    return "<figure>" + "".join(parts) + "</figure>"


def render_report(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole page as one HTML string."""
    nav = "".join(f'<a href="#{_anchor(s.title)}">{html.escape(s.title)}</a>' for s in sections)
    body = []
    for s in sections:
        body.append(f'<section id="{_anchor(s.title)}"><h2>{html.escape(s.title)}</h2>')
        if s.note:
            body.append(f'<p class="note">{html.escape(s.note)}</p>')
        body.append("".join(_table(cap, rows) for cap, rows in s.tables.items()))
        body.append("".join(_figure(f) for f in s.figures))
        body.append("</section>")
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{_CSS}</style></head>'
        f'<body><main><h1>{html.escape(title)}</h1><p class="sub">{html.escape(subtitle)}</p>'
        f"<nav>{nav}</nav>{''.join(body)}</main></body></html>\n"
    )


def write_report(page: str, path: str | Path) -> Path:
    """Write the page under a temp name beside ``path`` and rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text_atomic(path, page)
