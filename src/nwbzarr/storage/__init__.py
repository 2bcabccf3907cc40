"""nwbzarr.storage."""
