"""The one artifact cache (ONNX exports, INT8 models, AOTInductor packages, TensorRT engines):
content-addressed, written atomically, verified on every hit. The standard library only.

An entry is a folder `ROOT/NAMESPACE/LABEL-KEY/` holding the artifact's files and
`manifest.json` (the key, the fields it was made from, each file's size and sha256, and the
caller's metadata). KEY is the sha256 of the canonical JSON (sorted keys) of every field that changes the
bytes (source and weights hash, tool versions, device, precision, shape profile, recipe...),
so a stale entry is never found. An entry is built in a temporary sibling folder and published
with one rename: a crash or a concurrent writer never leaves a half entry visible, and two
processes building one key both end with a valid entry (the second takes the first's). Every
hit checks each file's size, then its sha256, against the manifest: hashing 100 MB took
0.17-0.22 s on the 2-core AMD EPYC VM, once per model or cell, where a cheaper check (size and
mtime) would miss a same-size rewrite. A mismatch, a missing file or a missing or unreadable
manifest is a miss: the entry is removed and rebuilt, and the caller learns why
(`Entry.status`)."""
from __future__ import annotations

import errno
import glob
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator

from edgebench.hashing import file_sha256

MANIFEST = "manifest.json"
FORMAT = 1  # the manifest's layout; an entry written in another is a miss
KEY_CHARS = 24  # of the key in a folder's name; the manifest holds the whole key and a hit checks it
HIT, BUILT, REBUILT = "hit", "built", "rebuilt"
_TMP, _TRASH = ".tmp-", ".trash-"  # prefixes of the sibling folders being written or removed
STALE_S = 24 * 3600  # such a folder this old is a killed writer's: the next writer of its key removes it


def cache_key(fields: dict) -> str:
    """A stable hash of everything that changes an artifact's content: the sha256 of `fields`
    as JSON with sorted keys (values JSON does not know are written as str)."""
    # the serialization is fixed: `run --resume` compares stored fingerprints made by it
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


def default_cache_dir() -> Path:
    """$EDGEBENCH_CACHE, else ~/.cache/edgebench."""
    return Path(os.environ.get("EDGEBENCH_CACHE", Path.home() / ".cache" / "edgebench"))


class InvalidEntry(Exception):
    """A stored entry that must not be used; the message says why, in a few words."""


@dataclass(frozen=True)
class Entry:
    """A verified entry. `status`: how this call got it: "hit" (found and verified), "built"
    (absent, built now) or "rebuilt: <why the stored one was rejected>"."""

    folder: Path
    key: str
    fields: dict
    files: dict  # name -> {"size": bytes, "sha256": hex}
    meta: dict = field(default_factory=dict)
    status: str = HIT

    def path(self, name: str) -> Path:
        if name not in self.files:
            raise KeyError(f"cache entry {self.folder.name} has no file {name!r}; it has {sorted(self.files)}")
        return self.folder / name

    def sha256(self, name: str) -> str:
        return self.files[name]["sha256"]

    def size(self, name: str) -> int:
        return self.files[name]["size"]

    @property
    def cached(self) -> bool:
        return self.status == HIT

    @property
    def rebuilt(self) -> bool:
        return self.status.startswith(REBUILT)


@dataclass
class Draft:
    """An entry being written: put its files in `folder` and its metadata in `meta`; `entry`
    is the published entry once the `Cache.writing` block has ended."""

    folder: Path
    meta: dict = field(default_factory=dict)
    entry: Entry | None = None


class Cache:
    """`Cache(root)` (default: default_cache_dir()). Namespaces ("onnx", "int8",
    "aot-inductor", "tensorrt") keep the kinds apart; `label` (a model's name) starts an
    entry's folder name for a person reading the cache, and is not hashed."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root else default_cache_dir()

    def folder(self, namespace: str, fields: dict, label: str = "") -> Path:
        """Where the entry for `fields` lives (whether or not it exists yet)."""
        key = cache_key(fields)[:KEY_CHARS]
        return self.root / namespace / (f"{_safe(label)}-{key}" if label else key)

    def get(self, namespace: str, fields: dict, label: str = "") -> Entry | None:
        """The verified entry, or None; an invalid entry is removed (see `lookup` for why)."""
        return self.lookup(namespace, fields, label)[0]

    def lookup(self, namespace: str, fields: dict, label: str = "") -> tuple[Entry | None, str]:
        """(verified entry or None, why a stored entry was rejected and removed, or "")."""
        folder, key = self.folder(namespace, fields, label), cache_key(fields)
        try:
            inode = folder.stat().st_ino
        except FileNotFoundError:
            return None, ""
        try:
            return read_entry(folder, key), ""
        except InvalidEntry as exc:
            _remove(folder, inode)
            return None, str(exc)

    def get_or_build(self, namespace: str, fields: dict, build: Callable[[Path], dict | None],
                     label: str = "") -> Entry:
        """The verified entry for `fields`, or, on a miss, the one `build(folder)` makes: it
        writes the artifact's files into `folder` (a private temporary folder) and returns the
        entry's metadata (or None). An exception from `build` leaves neither an entry nor a
        temporary folder and propagates."""
        entry, rejected = self.lookup(namespace, fields, label)
        if entry is not None:
            return entry
        with self.writing(namespace, fields, label) as draft:
            draft.meta.update(build(draft.folder) or {})
        return replace(draft.entry, status=f"{REBUILT}: {rejected}" if rejected else BUILT)

    @contextmanager
    def writing(self, namespace: str, fields: dict, label: str = "") -> Iterator[Draft]:
        """Write an entry: the block fills `draft.folder` and `draft.meta`; when it ends, the
        files' sizes and hashes go into the manifest and the folder is published with one
        rename. Should another writer have published the key first, its entry (verified) is
        kept and this one dropped. An exception in the block publishes nothing."""
        folder, key = self.folder(namespace, fields, label), cache_key(fields)
        folder.parent.mkdir(parents=True, exist_ok=True)
        _sweep(folder)
        tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP}{folder.name}-", dir=folder.parent))
        draft = Draft(tmp)
        try:
            yield draft
            files = {name: {"size": p.stat().st_size, "sha256": file_sha256(p)} for name, p in _files(tmp)}
            text = json.dumps({"format": FORMAT, "key": key, "fields": fields, "files": files, "meta": draft.meta},
                              indent=2, default=str)
            (tmp / MANIFEST).write_text(text)
            draft.entry = _publish(tmp, folder, key, _entry(folder, json.loads(text)))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)  # gone after a publish; litter after a failure

    def discard(self, namespace: str, fields: dict, label: str = "") -> None:
        """Remove the entry for `fields` (e.g. one its runtime could not load), if any."""
        folder = self.folder(namespace, fields, label)
        try:
            _remove(folder, folder.stat().st_ino)
        except FileNotFoundError:
            pass


def read_entry(folder: Path, key: str) -> Entry:
    """The entry in `folder`, checked against `key` and its manifest (every file's size, then
    sha256); raises InvalidEntry saying what is wrong."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError:
        raise InvalidEntry("no manifest") from None
    except (OSError, ValueError) as exc:
        raise InvalidEntry(f"unreadable manifest ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise InvalidEntry(f"manifest format {manifest.get('format') if isinstance(manifest, dict) else None}, not {FORMAT}")
    if manifest.get("key") != key:
        raise InvalidEntry("manifest is for another key")
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(_well_formed(n, f) for n, f in files.items()):
        raise InvalidEntry("malformed file list in the manifest")
    for name, f in files.items():
        try:
            size = (folder / name).stat().st_size
        except FileNotFoundError:
            raise InvalidEntry(f"{name} is missing") from None
        if size != f["size"]:
            raise InvalidEntry(f"{name} is {size} bytes, its manifest says {f['size']}")
    for name, f in files.items():
        if file_sha256(folder / name) != f["sha256"]:
            raise InvalidEntry(f"{name}'s sha256 differs from its manifest")
    return _entry(folder, manifest)


def _entry(folder: Path, manifest: dict) -> Entry:
    return Entry(folder, manifest["key"], manifest.get("fields") or {}, manifest["files"], manifest.get("meta") or {})


def _well_formed(name, f) -> bool:
    parts = Path(name).parts if isinstance(name, str) else ()
    return (bool(parts) and not Path(name).is_absolute() and ".." not in parts and name != MANIFEST
            and isinstance(f, dict) and isinstance(f.get("size"), int) and isinstance(f.get("sha256"), str))


def _files(folder: Path) -> list[tuple[str, Path]]:
    """(name relative to `folder`, path) of every file in it but the manifest."""
    return sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*")
                  if p.is_file() and p.name != MANIFEST)


def _publish(tmp: Path, folder: Path, key: str, written: Entry, attempts: int = 3) -> Entry:
    """Rename `tmp` to `folder` and return `written`. Where `folder` exists (another writer was
    first), its entry is used if valid; an invalid one is removed and the rename tried again."""
    for _ in range(attempts):
        try:
            os.rename(tmp, folder)  # replaces nothing but an empty folder: never a live entry
            return written
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
        try:
            inode = folder.stat().st_ino
            return read_entry(folder, key)
        except FileNotFoundError:
            continue  # removed meanwhile: try the rename again
        except InvalidEntry:
            _remove(folder, inode)
    raise OSError(f"could not publish the cache entry {folder}: other writers kept replacing it")


def _remove(folder: Path, inode: int) -> None:
    """Take `folder` out of sight with one rename, then delete it; only if it is still the
    folder that was judged (`inode`): an entry another writer published meanwhile stays."""
    trash = folder.parent / f"{_TRASH}{folder.name}-{os.getpid()}-{os.urandom(4).hex()}"
    try:
        if folder.stat().st_ino != inode:
            return
        os.rename(folder, trash)
    except FileNotFoundError:
        return  # another process removed it first
    shutil.rmtree(trash, ignore_errors=True)


def _sweep(folder: Path) -> None:
    """Remove the temporary folders of `folder`'s key left by writers killed mid-build."""
    now = time.time()
    for prefix in (_TMP, _TRASH):
        for p in folder.parent.glob(f"{prefix}{glob.escape(folder.name)}-*"):
            try:
                if now - p.stat().st_mtime > STALE_S:
                    shutil.rmtree(p, ignore_errors=True)
            except FileNotFoundError:
                pass


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[-60:]
