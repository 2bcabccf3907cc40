"""The structure tools never open another store: a link or reference that leaves the file is reported as an
``external`` node naming its file, with no request made (a counting HTTP server on loopback)."""

from __future__ import annotations

import shutil

import pytest

from _link_stores import counting_server, replace_sources
from nwbzarr import ExternalLinkError, read_nwb
from nwbzarr.structure import ReferenceIndex, dependency_graph, read_models, truncate_file


@pytest.mark.parametrize("folder", ["hdmf_zarr_0.13", "hdmf_zarr_0.14"])
def test_structure_tools_make_no_request_for_a_url_link(shared_data, tmp_path, folder):
    served = tmp_path / "served"
    shutil.copytree(shared_data / folder / "sample.nwb.zarr", served / "sample.nwb.zarr")
    with counting_server(served) as (base, requests):
        url = f"{base}/sample.nwb.zarr"
        store = shutil.copytree(shared_data / folder / "extlink.nwb.zarr", tmp_path / "extlink.nwb.zarr")
        replace_sources(store, {"../sample.nwb.zarr": url})
        graph = dependency_graph(store)
        node = f"{url}::/acquisition/ts/data"
        assert graph.nodes[node]["kind"] == "external" and graph.nodes[node]["file"] == url
        incoming = ReferenceIndex(store).referrers(node)
        assert [r.source for r in incoming] == ["/acquisition/ext"]
        models = read_models(store)
        assert models is not None
        out = truncate_file(store, tmp_path / "small.nwb.zarr", n=3)
        assert dependency_graph(out).nodes[node]["kind"] == "external"
        with pytest.raises(ExternalLinkError, match="link /acquisition/ext/data"):
            read_nwb(out)
        assert requests == []
