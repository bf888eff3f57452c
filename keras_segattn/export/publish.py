"""Writing artifacts safely: export writes only what it owns, and an artifact and its
manifest change together.

Guarantees (tested by killing the exporter at every step, see ``FAILPOINTS``):

- **Only what it owns.** A target that exists and is not an artifact this
  library wrote (a manifest beside it describing exactly its bytes) is refused;
  replacing our own artifact needs ``overwrite=True``. The working directory,
  its parents, the home folder and ``/`` are refused always.
- **The pair changes as one unit.** Everything is built and verified in a
  staging folder beside the target (same filesystem, so every move is one
  atomic rename). Then: the old manifest is moved aside, the old artifact is
  moved aside, the new artifact is moved in, the new manifest last. At every
  instant the target holds the old verified pair, nothing, an artifact with no
  manifest (which ``verify_artifact``/``inspect`` report as unverified), or the
  new verified pair; never an artifact beside a manifest of another file.
- **Nothing left behind.** A failed export removes its staging folder. One
  killed half-way leaves a folder named ``.<target>.ksa-tmp.<host>.<pid>.<random>``;
  the next export to that target recognises it (its process is gone, or it is
  older than a day), completes or undoes the interrupted replacement, and
  removes it.

This module uses only the standard library (no TensorFlow), so it is cheap to
test in isolation.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import time

__all__ = [
    "TargetRefused",
    "sha256_of",
    "check_target",
    "Staging",
    "recover",
    "FAILPOINTS",
    "SimulatedKill",
]

TMP_MARK = ".ksa-tmp."
STALE_SECONDS = 24 * 3600
#: The steps of a replacement, in order; a test may make the process die at each.
FAILPOINTS = ("staged", "old_manifest_moved", "old_artifact_moved", "artifact_placed", "manifest_placed")

# Test hook: set to a name in FAILPOINTS and ``_die`` is called right after that step.
_failpoint: str | None = None


class SimulatedKill(BaseException):
    """Raised by a test's ``_die``: like SIGKILL, it skips every cleanup."""


def _die():  # pragma: no cover - tests replace it
    raise SimulatedKill(_failpoint)


def _reached(step: str):
    if _failpoint == step:
        _die()


_ACTIVE: set[str] = set()  # staging folders of exports running in this process


class TargetRefused(ValueError):
    """The export target is not ours to write (a user's file or folder, or a protected folder)."""


def sha256_of(path: str) -> tuple[str, int]:
    """``(hex digest, bytes)`` of a file, or of a folder's files (relative names included)."""
    digest, size = hashlib.sha256(), 0
    is_dir = os.path.isdir(path)
    files = [path] if not is_dir else sorted(
        os.path.join(root, f) for root, _, names in os.walk(path) for f in names
    )
    for file in files:
        if is_dir:
            digest.update(os.path.relpath(file, path).encode())
        with open(file, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
                size += len(block)
    return digest.hexdigest(), size


def _read_json(path: str):
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def manifest_describes(manifest_path: str, path: str) -> bool:
    """Whether ``manifest_path`` is our manifest and describes exactly the bytes at ``path``."""
    manifest = _read_json(manifest_path)
    if not isinstance(manifest, dict) or "sha256" not in manifest or "parity" not in manifest:
        return False
    if manifest.get("artifact") != os.path.basename(path) or not os.path.exists(path):
        return False
    return sha256_of(path)[0] == manifest["sha256"]


def _is_our_manifest(manifest_path: str) -> bool:
    manifest = _read_json(manifest_path)
    return isinstance(manifest, dict) and {"sha256", "parity", "artifact"} <= set(manifest)


def _protected(path: str) -> str | None:
    real = os.path.realpath(path)
    cwd = os.path.realpath(os.getcwd())
    home = os.path.realpath(os.path.expanduser("~"))
    if real == os.path.realpath(os.sep):
        return "the filesystem root"
    if real == home:
        return "the home folder"
    if real == cwd:
        return "the current working directory"
    if cwd.startswith(real.rstrip(os.sep) + os.sep):
        return "a parent of the current working directory"
    return None


def normalize(path) -> str:
    """``path`` as a string without a trailing separator (``"out/"`` is ``"out"``)."""
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise ValueError(f"export: path must be a file or directory path, received {path!r}.")
    text = os.fspath(path)
    stripped = text.rstrip("/" + os.sep) or text
    return os.path.normpath(stripped)


def check_target(path: str, *, manifest_path: str | None, directory: bool, overwrite: bool,
                 owned=None) -> None:
    """Refuse a target we may not write (see the module docstring); ``path`` is normalised.

    ``directory``: the artifact is a folder (SavedModel). ``owned(path)``
    overrides the ownership test (default: the manifest describes its bytes).
    """
    where = _protected(path)
    if where:
        raise TargetRefused(
            f"export: path must not be {where}, received {path!r}; exporting there would replace "
            "everything in it. Name a new file or folder."
        )
    owned = owned or (lambda p: manifest_path is not None and manifest_describes(manifest_path, p))
    if os.path.lexists(path):
        if owned(path):
            if not overwrite:
                raise TargetRefused(
                    f"export: {path!r} already holds an artifact written by keras_segattn; pass "
                    "overwrite=True (CLI: --overwrite) to replace it."
                )
        elif directory and os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path):
            pass  # an empty folder made for the export
        else:
            kind = "folder" if os.path.isdir(path) else "file"
            raise TargetRefused(
                f"export: {path!r} is an existing {kind} that keras_segattn did not write (no manifest "
                f"{os.path.basename(manifest_path) if manifest_path else 'manifest.json'!r} describes it); "
                "refusing to replace it. Choose another path or move it away."
            )
    if manifest_path and os.path.lexists(manifest_path) and not _is_our_manifest(manifest_path):
        raise TargetRefused(
            f"export: the manifest path {manifest_path!r} is an existing file keras_segattn did not write; "
            "refusing to replace it. Choose another path or move it away."
        )


def _tmp_prefix(path: str) -> str:
    return f".{os.path.basename(path)}{TMP_MARK}"


def _is_stale(name: str, full: str) -> bool:
    try:
        host, pid, _ = name.rsplit(TMP_MARK, 1)[1].rsplit(".", 2)
        pid = int(pid)
    except ValueError:
        return False
    try:
        age = time.time() - os.lstat(full).st_mtime
    except OSError:
        return False
    if age > STALE_SECONDS:
        return True
    if host != socket.gethostname():
        return False  # another machine's export (shared filesystem): only age tells
    if pid == os.getpid():
        return full not in _ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def recover(path: str, manifest_path: str | None) -> list[str]:
    """Finish or undo replacements of ``path`` interrupted by a killed export; remove their
    staging folders. Returns the folders removed."""
    parent = os.path.dirname(os.path.abspath(path))
    prefix = _tmp_prefix(path)
    removed = []
    try:
        names = os.listdir(parent)
    except OSError:
        return removed
    for name in sorted(names):
        full = os.path.join(parent, name)
        if not name.startswith(prefix) or not _is_stale(name, full):
            continue
        staged, new_manifest = os.path.join(full, "artifact"), os.path.join(full, "manifest.json")
        old, old_manifest = os.path.join(full, "old"), os.path.join(full, "old.json")
        if manifest_path:
            if not os.path.lexists(path) and os.path.lexists(old):
                os.replace(old, path)  # killed between moving the old artifact out and the new one in
            if (not os.path.lexists(staged) and os.path.exists(new_manifest) and not os.path.exists(manifest_path)
                    and _manifest_matches(new_manifest, path)):
                os.replace(new_manifest, manifest_path)  # the new artifact is in place: finish
            elif os.path.exists(old_manifest) and not os.path.exists(manifest_path) and _manifest_matches(old_manifest, path):
                os.replace(old_manifest, manifest_path)  # the old artifact is still there: undo
        elif not os.path.lexists(path) and os.path.lexists(old):
            os.replace(old, path)
        shutil.rmtree(full, ignore_errors=True)
        removed.append(full)
    return removed


def _manifest_matches(manifest_path: str, path: str) -> bool:
    manifest = _read_json(manifest_path)
    return isinstance(manifest, dict) and os.path.exists(path) and sha256_of(path)[0] == manifest.get("sha256")


class Staging:
    """A staging folder beside ``path``; ``publish()`` moves its artifact (and manifest) into place.

    Use as a context manager: on an exception the folder is removed and the
    target is untouched. Write the artifact to :attr:`artifact` and pass the
    manifest dict to :meth:`publish`.
    """

    def __init__(self, path: str, manifest_path: str | None):
        self.path = path
        self.manifest_path = manifest_path
        parent = os.path.dirname(os.path.abspath(path))
        name = f"{_tmp_prefix(path)}{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"
        self.folder = os.path.join(parent, name)
        os.makedirs(self.folder)
        _ACTIVE.add(self.folder)
        self.artifact = os.path.join(self.folder, "artifact")

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback):
        try:
            if kind is None or not issubclass(kind, SimulatedKill):
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            # A simulated kill leaves the folder as a real kill would; this
            # process no longer owns it, so the next export treats it as stale.
            _ACTIVE.discard(self.folder)
        return False

    def publish(self, manifest: dict | None = None):
        """Replace the target by the staged artifact (and ``manifest``), in the safe order."""
        new_manifest = os.path.join(self.folder, "manifest.json")
        if self.manifest_path is not None:
            with open(new_manifest, "w") as fh:
                json.dump(manifest, fh, indent=2, default=float, ensure_ascii=False)
        _reached("staged")
        if self.manifest_path is not None and os.path.lexists(self.manifest_path):
            os.replace(self.manifest_path, os.path.join(self.folder, "old.json"))
        _reached("old_manifest_moved")
        if os.path.lexists(self.path):
            os.replace(self.path, os.path.join(self.folder, "old"))
        _reached("old_artifact_moved")
        if os.path.isdir(self.artifact):
            os.chmod(self.artifact, 0o755)  # keep a folder artifact readable like any other
        os.replace(self.artifact, self.path)
        _reached("artifact_placed")
        if self.manifest_path is not None:
            os.replace(new_manifest, self.manifest_path)
        _reached("manifest_placed")
        shutil.rmtree(self.folder, ignore_errors=True)
