"""mediagate: one API for video, image, speech and avatar generation across providers."""

__version__ = "0.1.0"
