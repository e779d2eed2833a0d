"""bench/graph_step.py compares like with like: its gpunn graphs have the parameters of the PyTorch modules it
times them against, its chains the same Dense layers without the graph's edges, and one short timing runs."""
from __future__ import annotations

import pytest
from helpers import bench_module, numpy_backend  # noqa: F401  (fixture)


@pytest.fixture(scope="module")
def graph_step():
    yield from bench_module("graph_step")


def test_the_graphs_are_the_pytorch_modules_and_the_chains_drop_only_the_edges(graph_step):
    f, w, c = graph_step.FEATURES, graph_step.WIDTH, graph_step.CLASSES
    expected = {"wide_deep": (f * w + w) + (w * w + w) + ((f + w) * c + c),
                "residual": (f * w + w) + 2 * (w * w + w) + (w * c + c),
                "aux_output": (f * w + w) + (w * w + w) + ((f + w) * c + c) + (w * c + c)}
    for kind, count in expected.items():
        graph = graph_step.build_gpunn(kind, jit=False)
        assert graph._sources is not None and graph.count_params() == count, kind
        chain = graph_step.build_gpunn(kind, jit=False, chain=True)
        if kind == "aux_output":  # its "chain": the model without the second output
            assert graph._several_outputs and [spec.weight for spec in graph._output_specs] == [1.0, 0.3]
            assert chain.count_params() == count - (w * c + c) and not chain._several_outputs
            continue
        assert chain._sources is None
        assert [type(layer).__name__ for layer in chain.layers if type(layer).__name__ == "Dense"] == [
            type(layer).__name__ for layer in graph.layers if type(layer).__name__ == "Dense"], kind
    torch = pytest.importorskip("torch", reason="PyTorch (the benchmark's other contender) is not installed")
    for kind, count in expected.items():
        module, _, _ = graph_step.build_torch(kind)
        assert sum(p.numel() for p in module.parameters()) == count, kind
    assert torch is not None


@pytest.mark.parametrize("kind", ["residual", "aux_output"])
def test_a_short_timing_gives_every_ratio(graph_step, monkeypatch, kind):
    monkeypatch.setattr(graph_step, "MAX_OTHER_CPU", None)  # no waiting for a quiet machine here
    part = graph_step.time_model(kind, ["gpunn-eager", "gpunn-replay", "gpunn-chain-replay"], steps=2,
                                 repeats=1, threads=1)
    assert set(part["per_step"]) == {"gpunn-eager", "gpunn-replay", "gpunn-chain-replay"}
    assert set(part["ratios"]) == {"gpunn-replay/gpunn-chain-replay", "gpunn-eager/gpunn-chain-replay"}
    assert all(v["median_us"] > 0 for v in part["per_step"].values())
