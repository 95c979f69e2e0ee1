"""gce-metadata-emulator: a local emulator of the Google Compute Engine metadata server."""

__version__ = "0.1.0"
