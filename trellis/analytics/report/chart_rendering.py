"""Rendering the report's Vega-Lite charts without a browser or a network, with vl-convert.

``vl-convert-python`` (BSD-3) embeds Vega, Vega-Lite and Vega-Embed in one wheel: it renders a spec to PNG
or SVG offline, and hands out the same libraries as one JavaScript bundle, which the HTML report inlines so
that vega-embed draws the charts in any browser with no network. The PDF and Markdown images and the HTML
charts therefore come from the same library versions.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

PNG_SCALE = 2.0
"""Pixels per CSS pixel in PNG images: sharp in print and on high-density screens."""


@lru_cache(maxsize=1)
def javascript_bundle() -> str:
    """Vega, Vega-Lite and Vega-Embed as one script that sets ``window.vegaEmbed`` (about 900 KB)."""
    import vl_convert

    make: Any = vl_convert.javascript_bundle  # its stub wants a snippet; without one it sets window.vegaEmbed
    bundle: str = make()
    # Inline in <script>: a "</script" inside the code would end the element early.
    return bundle.replace("</script", "<\\/script")


def library_versions() -> dict[str, str]:
    import vl_convert

    return {
        "vega": vl_convert.get_vega_version(),
        "vega-lite": vl_convert.get_vegalite_versions()[-1],
        "vega-embed": vl_convert.get_vega_embed_version(),
    }


def to_png(spec: dict[str, Any], scale: float = PNG_SCALE) -> bytes:
    import vl_convert

    png: bytes = vl_convert.vegalite_to_png(spec, scale=scale)
    return png


def to_svg(spec: dict[str, Any]) -> str:
    import vl_convert

    svg: str = vl_convert.vegalite_to_svg(spec)
    return svg


__all__ = ["javascript_bundle", "library_versions", "to_png", "to_svg"]
