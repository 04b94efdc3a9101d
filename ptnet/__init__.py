"""ptnet: netmap-compatible packet I/O, ptnetmap passthrough and NFV VM chains."""

__version__ = "0.1.0"
