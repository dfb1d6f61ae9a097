"""``cupyx.scipy`` of the cudasim stand-in (``ndimage`` only)."""

from . import ndimage

__all__ = ["ndimage"]
