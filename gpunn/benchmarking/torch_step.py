"""The PyTorch reference: the same MLP, loss and optimizer, on the same device, from gpunn's initial weights.

``nn.Linear`` keeps its weight as (out, in), so gpunn's (in, out) kernels are copied transposed. The
optimizer is ``torch.optim.Adam`` with Keras's epsilon (1e-7) and PyTorch's default implementation for the
device. PyTorch adds epsilon to the bias-corrected ``sqrt(v_hat)`` where Keras adds it to ``sqrt(v)``; the
two differ only where gradients are within a few epsilons of zero, which validation allows for.

As for gpunn (gpunn_step.py), the modules are built once per model size; each ``setup`` copies the initial
weights in and starts a fresh optimizer.

Three ways to run the step on a GPU (``mode``): ``eager``, PyTorch as most scripts run it; ``compiled``, the model
under ``torch.compile(mode="reduce-overhead")`` (its forward and backward replayed as CUDA graphs, zero_grad and
the optimizer step eager); ``graph``, the whole step (forward, loss, backward, a capturable Adam) captured as one
CUDA graph, as PyTorch's CUDA-graphs notes show for whole-network capture: PyTorch's best at a launch-bound step.
"""
from __future__ import annotations

import numpy as np

from ..ops import tf32
from .gpunn_step import EPSILON, LEARNING_RATE
from .timing import TORCH_POOL, HostClock, TorchEventClock
from .validation import Snapshot


class TorchStep:
    """A contender: PyTorch training one case on ``device`` ('cpu' or 'cuda:N')."""

    library = "torch"
    ranks = 1
    steps_per_call = 1

    MODES = ("eager", "compiled", "graph")

    def __init__(self, name: str, torch, device: str, threads: int | None, mode: str = "eager"):
        if mode not in self.MODES:
            raise ValueError(f"mode: expected one of {', '.join(self.MODES)}, got {mode!r}")
        if mode != "eager" and not device.startswith("cuda"):
            raise ValueError(f"mode: {mode!r} replays CUDA graphs and needs a 'cuda' device, got {device!r}")
        self.name, self.torch, self.device, self.mode = name, torch, device, mode
        self.threads = int(threads) if threads else None
        self._set_threads()
        if device.startswith("cuda"):
            # TF32 exactly when gpunn's GPU backend uses it (off unless GPUNN_TF32=1 / --tf32).
            tf32.apply_to_torch(torch)
            self.clock = TorchEventClock(torch)
            self.thread_pool = None
        else:
            self.clock = HostClock()
            self.thread_pool = TORCH_POOL  # see timing.Settler
        self.model = None
        self.layers = None   # the widths the modules were built for
        self.builds = 0

    def _set_threads(self) -> None:
        # Set again before every case: leaving a threadpoolctl limit resets PyTorch's OpenMP count too.
        if self.threads:
            self.torch.set_num_threads(self.threads)  # the same thread count as NumPy's BLAS

    def _model_for(self, layers):
        layers = tuple(int(w) for w in layers)
        if self.model is None or self.layers != layers:
            self.release()
            nn = self.torch.nn
            modules = []
            for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
                modules.append(nn.Linear(n_in, n_out))
                if i < len(layers) - 2:
                    modules.append(nn.ReLU())
            self.model = nn.Sequential(*modules).to(self.device)
            self.layers = layers
            self.builds += 1
        return self.model

    def setup(self, layers, x: np.ndarray, y: np.ndarray, weights: list) -> None:
        torch, nn = self.torch, self.torch.nn
        self._set_threads()
        model = self._model_for(layers)
        self.linears = [m for m in model if isinstance(m, nn.Linear)]
        self._load_weights(weights)
        # The compiled module shares the parameters; compiling is lazy (the first step, before the timing).
        self.forward = torch.compile(model, mode="reduce-overhead") if self.mode == "compiled" else model
        # capturable: the step count stays on the device, so a captured Adam step advances it at each replay.
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=EPSILON,
                                          capturable=self.mode == "graph")
        self.loss_fn = nn.CrossEntropyLoss()  # mean over the batch: the same 1/B gradient scale as gpunn
        self.xb = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        self.yb = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device)
        self._loss = None
        self.graph = None
        if self.mode == "graph":
            self._capture(weights)
        self.synchronize()

    def _capture(self, weights: list) -> None:
        """The whole step as one CUDA graph (PyTorch's notes on CUDA graphs, whole-network capture): a few eager
        steps on a side stream first (they make the optimizer's state and warm the libraries up), then the
        initial weights and a fresh optimizer state put back in place, then the capture, which runs nothing."""
        torch = self.torch
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(3):
                self._eager_step()
        torch.cuda.current_stream().wait_stream(side)
        self._load_weights(weights)
        with torch.no_grad():
            for state in self.optimizer.state.values():
                for value in state.values():
                    if torch.is_tensor(value):
                        value.zero_()
        self.graph = torch.cuda.CUDAGraph()
        self.optimizer.zero_grad(set_to_none=True)  # the backward inside the capture makes the gradients anew
        with torch.cuda.graph(self.graph):
            loss = self.loss_fn(self.model(self.xb), self.yb)
            loss.backward()
            self.optimizer.step()
        self._captured_loss = loss

    def _load_weights(self, weights: list) -> None:
        """gpunn's (in, out) kernels and biases copied into the modules, in place (nn.Linear keeps (out, in))."""
        torch = self.torch
        with torch.no_grad():
            for linear, kernel, bias in zip(self.linears, weights[0::2], weights[1::2]):
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
                linear.bias.copy_(torch.from_numpy(bias))

    def _eager_step(self):
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.forward(self.xb), self.yb)
        loss.backward()
        self.optimizer.step()
        return loss

    def step(self) -> None:
        if self.graph is not None:
            self.graph.replay()
            self._loss = self._captured_loss
        else:
            self._loss = self._eager_step()

    def validation_step(self) -> None:
        self.step()

    def synchronize(self) -> None:
        if self.device.startswith("cuda"):
            self.torch.cuda.synchronize()

    def snapshot(self) -> Snapshot:
        def host(t):
            return t.detach().cpu().numpy().copy()

        grads, params = [], []
        for linear in self.linears:
            grads += [host(linear.weight.grad).T.copy(), host(linear.bias.grad)]
            params += [host(linear.weight).T.copy(), host(linear.bias)]
        return Snapshot(loss=float(self._loss.item()), grads=grads, params=params)

    def close(self) -> None:
        """Drop this case's batch and optimizer; the modules stay for the next batch size."""
        self.optimizer = self.xb = self.yb = self._loss = self.forward = self.graph = self._captured_loss = None

    def release(self) -> None:
        """Drop the modules too (before the next model size, or at the end)."""
        self.close()
        self.model = self.linears = self.layers = None
