"""Model-zoo test helpers: a local HTTP file server with injectable faults, and a served zoo.

The server listens on 127.0.0.1 with real sockets. Faults per path:

* ``'corrupt'``: the bytes of the middle of the file are flipped (same length);
* ``'truncate'``: only the first half of the file is served, with a matching Content-Length;
* ``'drop'``: the full length is announced but the connection closes after half of the body.
"""
import hashlib
import http.server
import os.path as osp
import socket
import threading
from typing import Dict, List, Optional, Tuple

import torch
import yaml
from conftest import tiny_model_cfg
from mmengine.config import Config
from mmpretrain.registry import MODELS

from mmhssl.utils import save_checkpoint_atomic


class FileServer:
    """Serve in-memory files on ``http://127.0.0.1:<port>/<name>``."""

    def __init__(self) -> None:
        self.files: Dict[str, bytes] = {}
        self.faults: Dict[str, str] = {}
        self.requests: List[Tuple[str, Optional[str]]] = []
        self._httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = None

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    def url(self, name: str) -> str:
        return f'http://127.0.0.1:{self.port}/{name}'

    def start(self) -> 'FileServer':
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> 'FileServer':
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _handler(self):
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                name = self.path.lstrip('/')
                range_header = self.headers.get('Range')
                server.requests.append((name, range_header))
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                fault = server.faults.get(name)
                if fault == 'corrupt':
                    mid = len(data) // 2
                    data = data[:mid] + bytes(b ^ 0xFF for b in data[mid:mid + 64]) + \
                        data[mid + 64:]
                elif fault == 'truncate':
                    data = data[:len(data) // 2]
                self.send_response(200)
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                if fault == 'drop':
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(data)

        return Handler


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_checkpoint(path: str) -> Tuple[bytes, dict]:
    """Save a real training-style checkpoint of the tiny HSSL model; the teacher differs from the
    student, as after training."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_model_cfg())
    model.init_weights()
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.01 * torch.randn_like(p))
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_checkpoint_atomic(dict(state_dict=state, meta=dict(epoch=1)), path)
    with open(path, 'rb') as f:
        return f.read(), state


def write_config(path: str) -> str:
    """A config file for the tiny HSSL model."""
    Config(
        dict(
            default_scope='mmpretrain',
            custom_imports=dict(imports=['mmhssl']),
            model=tiny_model_cfg())).dump(path)
    return path


def write_metafile(folder: str, entries: List[dict]) -> str:
    """A metafile in ``folder`` whose models all use the tiny config (one copy per name)."""
    models = []
    for entry in entries:
        write_config(osp.join(folder, f'{entry["Name"]}.py'))
        model = dict(
            Name=entry['Name'],
            Metadata={
                'Epochs': 1,
                'Batch Size': 2,
                'Training Data': 'test photos',
                'Architecture': ['ViT (32 wide)', 'ConvNeXt auxiliary head']
            },
            Results=None,
            Config=f'{entry["Name"]}.py',
            **{'In Collection': 'ZooTest'})
        model.update({k: v for k, v in entry.items() if k != 'Name'})
        models.append(model)
    data = dict(
        Collections=[dict(Name='ZooTest', Paper=dict(Title='Test', URL='https://x.org'))],
        Models=models)
    path = osp.join(folder, 'metafile.yml')
    with open(path, 'w') as f:
        yaml.safe_dump(data, f, sort_keys=False)
    return path
