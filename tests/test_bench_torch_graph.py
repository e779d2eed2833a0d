"""The torch-cuda-graph contender: PyTorch's whole training step captured as one CUDA graph. Its replays must
train as PyTorch's eager step does from the same weights (the capture runs nothing, and the warm-up steps it
takes first are undone); on the CPU only its arguments are checked."""
import numpy as np
import pytest

from gpunn.benchmarking.runner import initial_weights, make_batch

LAYERS = (12, 32, 32, 5)


def _torch():
    return pytest.importorskip("torch")


def test_a_graph_or_compiled_torch_step_needs_a_cuda_device():
    torch = _torch()
    from gpunn.benchmarking.torch_step import TorchStep

    for mode in ("graph", "compiled"):
        with pytest.raises(ValueError, match=f"mode: '{mode}' replays CUDA graphs and needs a 'cuda' device"):
            TorchStep("torch", torch, "cpu", threads=1, mode=mode)
    with pytest.raises(ValueError, match="mode: expected one of eager, compiled, graph, got 'fast'"):
        TorchStep("torch", torch, "cpu", threads=1, mode="fast")


@pytest.mark.gpu
def test_the_captured_torch_step_trains_as_the_eager_one():
    torch = _torch()
    if not torch.cuda.is_available():
        pytest.skip("PyTorch sees no CUDA GPU")
    from gpunn.benchmarking.torch_step import TorchStep

    def after(mode, steps):
        step = TorchStep(f"torch-{mode}", torch, "cuda:0", threads=None, mode=mode)
        x, y = make_batch(LAYERS, 16, 0)
        step.setup(LAYERS, x, y, initial_weights(LAYERS, 0))
        for _ in range(steps):
            step.step()
        step.synchronize()
        return step.snapshot()

    for steps in (1, 3):
        eager, graph = after("eager", steps), after("graph", steps)
        np.testing.assert_allclose(graph.loss, eager.loss, rtol=1e-5)
        for a, b in zip(graph.grads + graph.params, eager.grads + eager.params):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
