"""nwbzarr.structure."""
