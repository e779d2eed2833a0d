"""callbacks.RemoteMonitor (keras/src/callbacks/remote_monitor.py): each epoch's logs posted to a local server as
Keras posts them (a form field of JSON, or a JSON body, with the given headers); an unreachable server warns, as in
Keras, and training goes on."""
from __future__ import annotations

import http.server
import json
import threading
import urllib.parse

import numpy as np
import pytest

import gpunn


class _Recorder(http.server.BaseHTTPRequestHandler):
    received: list = []
    status = 200

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Recorder.received = []
    _Recorder.status = 200
    httpd = http.server.HTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder
    httpd.shutdown()


def _fit(monitor, epochs=2):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 3)).astype("float32"), rng.integers(0, 2, 24)
    model = gpunn.Sequential([gpunn.Input(shape=(3,)), gpunn.layers.Dense(2, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, validation_split=0.25, verbose=0, callbacks=[monitor])


def test_logs_are_posted_as_a_form_field_of_json(server):
    root, recorder = server
    history = _fit(gpunn.callbacks.RemoteMonitor(root=root, path="/logs/", field="payload"))
    assert [r["path"] for r in recorder.received] == ["/logs/", "/logs/"]
    for epoch, request in enumerate(recorder.received):
        assert request["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
        sent = json.loads(urllib.parse.parse_qs(request["body"])["payload"][0])
        assert sent["epoch"] == epoch
        assert sorted(sent) == sorted(["epoch"] + list(history.history))
        for key, values in history.history.items():
            assert sent[key] == pytest.approx(values[epoch])


def test_logs_are_posted_as_json_with_the_headers(server):
    root, recorder = server
    _fit(gpunn.callbacks.RemoteMonitor(root=root, send_as_json=True, headers={"X-Run": "7"}), epochs=1)
    (request,) = recorder.received
    assert request["path"] == "/publish/epoch/end/"
    assert request["headers"]["Content-Type"] == "application/json" and request["headers"]["X-Run"] == "7"
    assert json.loads(request["body"])["epoch"] == 0


def test_an_unreachable_server_warns_and_training_goes_on(server):
    root, recorder = server
    recorder.status = 500  # reached, with an error status: no warning (requests.post raises for none either)
    _fit(gpunn.callbacks.RemoteMonitor(root=root), epochs=1)
    assert len(recorder.received) == 1
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor root server at http://127.0.0.1:9"):
        history = _fit(gpunn.callbacks.RemoteMonitor(root="http://127.0.0.1:9", timeout=2.0))
    assert len(history.history["loss"]) == 2
