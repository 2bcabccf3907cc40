"""Structure tools for NWB/HDMF files, HDF5 and Zarr alike: graph, reference index, truncation, specs, models.

Everything takes a path (HDF5 file or Zarr store of either layout) or an open ``Source``.
"""

from .graph import dependency_graph, filter_dependency_graph
from .model import Link, Node, Ref, Reference, Structure, StructureError
from .refindex import ReferenceIndex, find_references
from .sources import Source, open_source
from .specs import read_specs_as_dicts
from .truncate import truncate_file
from .typed_read import LazyArray, ModelValidationError, read_models, to_json, validation_errors

__all__ = [
    "LazyArray",
    "Link",
    "ModelValidationError",
    "Node",
    "Ref",
    "Reference",
    "ReferenceIndex",
    "Source",
    "Structure",
    "StructureError",
    "dependency_graph",
    "filter_dependency_graph",
    "find_references",
    "open_source",
    "read_models",
    "read_specs_as_dicts",
    "to_json",
    "truncate_file",
    "validation_errors",
]
