"""nwbzarr.backend."""
