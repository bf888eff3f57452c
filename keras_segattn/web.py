"""The exported models in a web page: files for ``web/`` and a local server.

The page in the repository's ``web/`` folder (plain HTML and ES modules, its
two runtimes pinned in ``web/package-lock.json``) runs exported TFLite files
with LiteRT.js and ONNX files with ONNX Runtime Web, in the browser. LiteRT.js
cannot resize an input, so everything here is exported with a fixed batch of
one (``export(..., batch_size=1)``), behind the same parity gate as any export.

:func:`export_for_web` writes, for each model, what its page needs into
``web/models/``: the artifacts with their manifests (input size, dtype,
quantisation, class names), a few embedded test images as PNG files, and
``catalog.json`` listing them. :func:`serve` serves ``web/`` on 127.0.0.1.
``keras-segattn web --model PATH`` does both.

Pages:

- ``index.html``: semantic segmentation (``semantic_segmentation`` task):
  float32 and int8 TFLite, ONNX;
- ``stn.html``: a spatial-transformer classifier (an ``st_cnn``): the
  transformed digit, the sampling grid and the class; float32 TFLite, ONNX.

Example:
    >>> import keras_segattn as ksa
    >>> from keras_segattn.web import export_for_web, page_of, serve
    >>> page_of(ksa.build_model("st_cnn_tiny")), page_of(ksa.build_model("fcn8s_tiny"))
    ('stn.html', 'index.html')
    >>> export_for_web(["saved_models/deconvnet_tiny.keras"])  # doctest: +SKIP
    >>> serve().serve_forever()  # serves http://127.0.0.1:8000/ until Ctrl-C  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import threading
import urllib.parse

import numpy as np

__all__ = ["WEB_DIR", "export_for_web", "page_of", "serve", "check_web_dir", "headless_chromium"]

#: The repository's ``web/`` folder (next to the package in a source checkout).
WEB_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "web")

#: page -> the artifacts written for it: (format, quantize).
PAGE_ARTIFACTS = {
    "index.html": (("tflite", None), ("tflite", "int8"), ("onnx", None)),
    "stn.html": (("tflite", None), ("onnx", None)),
}


def check_web_dir(web_dir=None, *, need_packages=True) -> str:
    """``web_dir`` (default :data:`WEB_DIR`) if it holds the page and, with ``need_packages``, its
    installed npm packages; otherwise a ``ValueError`` with the command that fixes it."""
    web_dir = os.path.abspath(web_dir or WEB_DIR)
    if not os.path.isfile(os.path.join(web_dir, "index.html")):
        raise ValueError(
            f"web: web_dir must be the repository's web/ folder (with index.html), received {web_dir!r}; "
            "the page ships with the source checkout, not the wheel."
        )
    if need_packages:
        for package in ("@litertjs/core", "onnxruntime-web"):
            if not os.path.isdir(os.path.join(web_dir, "node_modules", package)):
                raise ValueError(
                    f"web: the page's runtime {package!r} is not installed in {web_dir}/node_modules; "
                    f"run: npm ci --prefix {web_dir}"
                )
    return web_dir


def page_of(model) -> str:
    """The page that shows ``model`` (its task's :meth:`~keras_segattn.tasks.Task.web_page`:
    ``"index.html"`` for segmentation, ``"stn.html"`` for an ``st_cnn``); else ``ValueError``."""
    from keras_segattn.tasks import task_of

    task = task_of(model, None, required=False)
    page = None if task is None else task.web_page(model)
    if page is None:
        raise ValueError(
            f"web: model {model.name!r} (task {getattr(task, 'name', None)!r}) has no page; the pages show "
            "semantic segmentation models and spatial-transformer classifiers (st_cnn)."
        )
    return page


def _load(model):
    import keras

    if isinstance(model, keras.Model):
        return model
    if isinstance(model, str) and model.endswith(".keras"):
        if not os.path.isfile(model):
            raise ValueError(f"web: model must be a .keras file or a keras.Model, received {model!r} (no such file).")
        return keras.saving.load_model(model)
    raise ValueError(f"web: model must be a .keras file or a keras.Model, received {model!r}.")


def _write_png(path, image):
    from PIL import Image

    image = np.clip(np.round(image), 0, 255).astype(np.uint8)
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(path)


def export_for_web(models, out_dir=None, *, samples=6, parity_samples=16, verbose=True) -> dict:
    """Export ``models`` for the web pages into ``out_dir`` (default ``web/models``); returns the catalog.

    Args:
        models: ``.keras`` paths or ``keras.Model`` objects (trained: the
            int8 export is judged on the task, which an untrained model's
            ties fail).
        out_dir: where the artifacts, ``samples/`` and ``catalog.json`` go;
            earlier files of the same models are replaced (this folder is
            the page's, the library's own output).
        samples: embedded test images written per model as PNG.
        parity_samples: examples each export's parity gate runs.
        verbose: print one line per artifact.

    Every artifact has a fixed batch of one and its parity-gated manifest
    (``PATH.json``). The catalog lists, per model, its page, task, class
    names, input shape and dtype, artifacts (file, runtime ``"litert"`` or
    ``"onnx"``, quantisation, manifest) and sample images.
    """
    from keras_segattn.export import export
    from keras_segattn.models.spatial_transformer_net import with_transformer_outputs
    from keras_segattn.tasks import task_of

    if isinstance(models, (str, bytes)) or not hasattr(models, "__iter__"):
        models = [models]
    models = [_load(m) for m in models]
    if not models:
        raise ValueError("web: models must name at least one model, received none.")
    out_dir = os.path.abspath(out_dir or os.path.join(WEB_DIR, "models"))
    os.makedirs(os.path.join(out_dir, "samples"), exist_ok=True)
    catalog_path = os.path.join(out_dir, "catalog.json")
    catalog = {"models": []}
    if os.path.exists(catalog_path):
        with open(catalog_path) as fh:
            catalog = json.load(fh)
    for model in models:
        page = page_of(model)
        task = task_of(model, None, required=False)
        name = model.name
        # The STN page draws what the transformer did: export the model with those outputs.
        exported = with_transformer_outputs(model, name=name) if page == "stn.html" else model
        # The parity data of the model itself (the views model's first output is not its logits).
        parity = task.data(model, "test", parity_samples)
        artifacts = []
        for fmt, quantize in PAGE_ARTIFACTS[page]:
            filename = f"{name}{'_' + quantize if quantize else ''}.{fmt}"
            manifest = export(
                exported, os.path.join(out_dir, filename), format=fmt, quantize=quantize, batch_size=1,
                task=task, parity_data=(parity[0], parity[1]), parity_samples=parity_samples,
                overwrite=True, verbose=verbose,
            )
            artifacts.append({
                "file": filename,
                "manifest": filename + ".json",
                "runtime": "litert" if fmt == "tflite" else "onnx",
                "format": fmt,
                "quantize": quantize,
                "size_bytes": manifest["size_bytes"],
            })
        (images,), labels = task.data(model, "test", samples)
        names = []
        for i, image in enumerate(images):
            names.append(f"samples/{name}_{i}.png")
            _write_png(os.path.join(out_dir, names[-1]), image)
        entry = {
            "name": name,
            "page": page,
            "task": task.name,
            "class_names": task.class_names(model),
            "input_shape": [int(d) for d in model.inputs[0].shape[1:]],
            "artifacts": artifacts,
            "samples": names,
        }
        catalog["models"] = [m for m in catalog["models"] if m["name"] != name] + [entry]
    tmp = catalog_path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(catalog, fh, indent=2)
    os.replace(tmp, catalog_path)
    return catalog


class _Handler(http.server.SimpleHTTPRequestHandler):
    # ES modules and WebAssembly must be served with their MIME types.
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".tflite": "application/octet-stream",
        ".onnx": "application/octet-stream",
    }

    models_dir = None

    def translate_path(self, path):
        # /models/... from models_dir when one is given (tests and tools serve their own exports).
        clean = urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0])
        if self.models_dir and clean.startswith("/models/"):
            parts = [p for p in clean[len("/models/") :].split("/") if p not in ("", ".", "..")]
            return os.path.join(self.models_dir, *parts)
        return super().translate_path(path)

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format, *args):  # quiet: the CLI prints the URL once
        pass


def serve(web_dir=None, *, models_dir=None, host="127.0.0.1", port=8000, background=False):
    """A ``ThreadingHTTPServer`` serving ``web_dir`` on ``host:port`` (``port=0``: any free port).

    ``models_dir``: serve ``/models/`` from this folder (what
    :func:`export_for_web` wrote) instead of ``web_dir/models``. With
    ``background=True`` it already serves from a daemon thread; call
    ``server.shutdown()`` to stop it. The URL is ``server.url``.
    """
    web_dir = check_web_dir(web_dir)
    handler = type("Handler", (_Handler,), {"models_dir": os.path.abspath(models_dir) if models_dir else None})
    handler = functools.partial(handler, directory=web_dir)
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as error:
        raise ValueError(f"web: cannot serve on {host}:{port} ({error.strerror}); pass another port.") from None
    server.daemon_threads = True
    server.url = f"http://{host}:{server.server_address[1]}/"
    if background:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def headless_chromium(*, window=(1100, 900), script_timeout=120):
    """A selenium driver of Debian's headless Chromium (for the browser tests and the latency tool).

    Needs the ``selenium`` package (the ``dev`` extra) and ``apt-get install
    chromium chromium-driver``; without them a ``RuntimeError`` names the
    command to run.
    """
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.path.exists(path):
            raise RuntimeError(
                f"web: {path} is missing: run  apt-get install -y chromium chromium-driver  (package {package!r})."
            )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise RuntimeError("web: the browser driver needs selenium: run  pip install -e '.[dev]'") from None
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", f"--window-size={window[0]},{window[1]}"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_script_timeout(script_timeout)
    return driver
