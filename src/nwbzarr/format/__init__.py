"""nwbzarr.format."""
