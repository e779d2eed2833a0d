"""The PyTorch reference: the same MLP, loss and optimizer, on the same device, from gpunn's initial weights.

``nn.Linear`` keeps its weight as (out, in), so gpunn's (in, out) kernels are copied transposed. The
optimizer is ``torch.optim.Adam`` with Keras's epsilon (1e-7) and PyTorch's default implementation for the
device. PyTorch adds epsilon to the bias-corrected ``sqrt(v_hat)`` where Keras adds it to ``sqrt(v)``; the
two differ only where gradients are within a few epsilons of zero, which validation allows for.

As for gpunn (gpunn_step.py), the modules are built once per model size; each ``setup`` copies the initial
weights in and starts a fresh optimizer.
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

    def __init__(self, name: str, torch, device: str, threads: int | None, compiled: bool = False):
        self.name, self.torch, self.device = name, torch, device
        self.compiled = compiled  # torch.compile(mode="reduce-overhead"): the forward/backward as CUDA graphs
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
        linears = [m for m in model if isinstance(m, nn.Linear)]
        with torch.no_grad():
            for linear, kernel, bias in zip(linears, weights[0::2], weights[1::2]):
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(kernel.T)))
                linear.bias.copy_(torch.from_numpy(bias))
        self.linears = linears
        # The compiled module shares the parameters; compiling is lazy (the first step, before the timing).
        self.forward = torch.compile(model, mode="reduce-overhead") if self.compiled else model
        self.optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE, betas=(0.9, 0.999), eps=EPSILON)
        self.loss_fn = nn.CrossEntropyLoss()  # mean over the batch: the same 1/B gradient scale as gpunn
        self.xb = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
        self.yb = torch.from_numpy(np.asarray(y, dtype=np.int64)).to(self.device)
        self._loss = None
        self.synchronize()

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.loss_fn(self.forward(self.xb), self.yb)
        loss.backward()
        self.optimizer.step()
        self._loss = loss

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
        self.optimizer = self.xb = self.yb = self._loss = self.forward = None

    def release(self) -> None:
        """Drop the modules too (before the next model size, or at the end)."""
        self.close()
        self.model = self.linears = self.layers = None
