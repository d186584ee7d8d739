"""edgebench.cache: content keys, atomic publishing, verification on every hit, and writers and
readers in several processes at once."""
import hashlib
import json
import multiprocessing
import os
import time

import pytest

from edgebench.cache import MANIFEST, Cache, InvalidEntry, cache_key, read_entry

FIELDS = {"model": "m", "weights_sha256": "a" * 64, "torch": "2.11", "profile": [[1, 3], [4, 3]]}


def _writer(data: bytes, meta: dict | None = None, calls: list | None = None):
    def build(folder):
        if calls is not None:
            calls.append(folder)
        (folder / "model.bin").write_bytes(data)
        return meta
    return build


def _litter(root, namespace="ns"):
    """Everything in a namespace's folder that is not a published entry."""
    return [p.name for p in (root / namespace).iterdir() if p.name.startswith(".")] if (root / namespace).exists() else []


def test_miss_then_build_then_verified_hit(tmp_path):
    cache, calls = Cache(tmp_path), []
    assert cache.get("ns", FIELDS) is None and cache.lookup("ns", FIELDS) == (None, "")
    built = cache.get_or_build("ns", FIELDS, _writer(b"abc", {"opset": 18}, calls), label="resnet/50")
    assert built.status == "built" and not built.cached and len(calls) == 1
    assert built.path("model.bin").read_bytes() == b"abc" and built.meta == {"opset": 18}
    assert built.folder == cache.folder("ns", FIELDS, "resnet/50") and built.folder.name.startswith("resnet_50-")
    hit = cache.get_or_build("ns", FIELDS, _writer(b"other", None, calls), label="resnet/50")
    assert hit.cached and hit.status == "hit" and len(calls) == 1  # not built again
    assert hit.files == built.files == {"model.bin": {"size": 3, "sha256": built.sha256("model.bin")}}
    assert hit.key == cache_key(FIELDS) and hit.fields == FIELDS and hit.meta == built.meta
    manifest = json.loads((built.folder / MANIFEST).read_text())
    assert manifest["key"] == cache_key(FIELDS) and manifest["files"] == built.files
    with pytest.raises(KeyError, match="has no file 'model.onnx'"):
        hit.path("model.onnx")
    assert not _litter(tmp_path)


def test_key_is_canonical_and_changes_with_every_field():
    key = cache_key(FIELDS)
    assert cache_key(dict(reversed(list(FIELDS.items())))) == key  # key order does not matter
    assert key == cache_key({**FIELDS, "profile": ((1, 3), (4, 3))})  # tuples are JSON lists
    for name, other in [("model", "n"), ("weights_sha256", "b" * 64), ("torch", "2.12"), ("profile", [[1, 3], [8, 3]])]:
        assert cache_key({**FIELDS, name: other}) != key, name
    assert cache_key({**FIELDS, "recipe": {"method": "minmax"}}) != cache_key({**FIELDS, "recipe": {"method": "entropy"}})
    # the serialization is fixed: stored run fingerprints (run --resume) were made by it
    assert cache_key({"b": 1, "a": [1, 2]}) == hashlib.sha256(b'{"a": [1, 2], "b": 1}').hexdigest()


def test_different_fields_are_different_entries(tmp_path):
    cache = Cache(tmp_path)
    a = cache.get_or_build("ns", FIELDS, _writer(b"a"))
    b = cache.get_or_build("ns", {**FIELDS, "torch": "2.12"}, _writer(b"b"))
    c = cache.get_or_build("other", FIELDS, _writer(b"c"))
    assert len({a.folder, b.folder, c.folder}) == 3 and all(e.status == "built" for e in (a, b, c))
    assert cache.get("ns", FIELDS).path("model.bin").read_bytes() == b"a"


def test_a_failing_build_leaves_no_entry_and_no_litter(tmp_path):
    cache = Cache(tmp_path)

    def build(folder):
        (folder / "model.bin").write_bytes(b"half")
        raise RuntimeError("compiler crashed")

    with pytest.raises(RuntimeError, match="compiler crashed"):
        cache.get_or_build("ns", FIELDS, build)
    assert cache.get("ns", FIELDS) is None and not any((tmp_path / "ns").iterdir())
    with pytest.raises(KeyboardInterrupt):
        with cache.writing("ns", FIELDS) as draft:
            (draft.folder / "model.bin").write_bytes(b"half")
            raise KeyboardInterrupt
    assert not any((tmp_path / "ns").iterdir())
    assert cache.get_or_build("ns", FIELDS, _writer(b"ok")).status == "built"


def _corrupt_cases():
    def same_size(folder):
        (folder / "model.bin").write_bytes(b"xyz")

    def longer(folder):
        (folder / "model.bin").write_bytes(b"abcd")

    def missing(folder):
        (folder / "model.bin").unlink()

    def no_manifest(folder):
        (folder / MANIFEST).unlink()

    def garbage_manifest(folder):
        (folder / MANIFEST).write_text("{not json")

    def other_key(folder):
        m = json.loads((folder / MANIFEST).read_text())
        (folder / MANIFEST).write_text(json.dumps({**m, "key": "0" * 64}))

    def escaping_name(folder):
        m = json.loads((folder / MANIFEST).read_text())
        (folder / MANIFEST).write_text(json.dumps({**m, "files": {"../x": m["files"]["model.bin"]}}))

    def old_layout(folder):  # an entry of the caches before this module: meta.json beside the file
        (folder / MANIFEST).rename(folder / "meta.json")

    return [
        (same_size, "model.bin's sha256 differs from its manifest"),
        (longer, "model.bin is 4 bytes, its manifest says 3"),
        (missing, "model.bin is missing"),
        (no_manifest, "no manifest"),
        (garbage_manifest, "unreadable manifest (JSONDecodeError)"),
        (other_key, "manifest is for another key"),
        (escaping_name, "malformed file list in the manifest"),
        (old_layout, "no manifest"),
    ]


@pytest.mark.parametrize("damage, why", _corrupt_cases(), ids=lambda v: getattr(v, "__name__", ""))
def test_a_damaged_entry_is_a_miss_removed_and_rebuilt(tmp_path, damage, why):
    cache = Cache(tmp_path)
    first = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    damage(first.folder)
    with pytest.raises(InvalidEntry, match=why.replace("(", r"\(").replace(")", r"\)")):
        read_entry(first.folder, first.key)
    again = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    assert again.status == f"rebuilt: {why}" and again.rebuilt and not again.cached
    assert read_entry(again.folder, again.key).files == first.files
    assert cache.get("ns", FIELDS).cached and not _litter(tmp_path)


def test_get_removes_a_damaged_entry(tmp_path):
    cache = Cache(tmp_path)
    entry = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    entry.path("model.bin").write_bytes(b"abd")
    assert cache.lookup("ns", FIELDS) == (None, "model.bin's sha256 differs from its manifest")
    assert not entry.folder.exists() and not _litter(tmp_path)


def test_a_killed_writers_leftovers_go_when_its_key_is_next_written(tmp_path):
    from edgebench.cache import STALE_S

    cache = Cache(tmp_path)
    folder = cache.folder("ns", FIELDS)
    folder.parent.mkdir(parents=True)
    old, recent = folder.parent / f".tmp-{folder.name}-dead", folder.parent / f".tmp-{folder.name}-alive"
    for p in (old, recent):
        p.mkdir()
        (p / "model.bin").write_bytes(b"half")
    os.utime(old, (time.time() - STALE_S - 60,) * 2)
    cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    assert not old.exists() and recent.exists()  # a recent one may be a live writer's


def test_discard(tmp_path):
    cache = Cache(tmp_path)
    cache.discard("ns", FIELDS)  # nothing there: no error
    entry = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    cache.discard("ns", FIELDS)
    assert not entry.folder.exists() and cache.get("ns", FIELDS) is None and not _litter(tmp_path)


def test_an_entry_published_after_the_damaged_one_was_judged_stays(tmp_path):
    """A reader that judged an entry damaged removes only that folder, not one another writer
    published in its place meanwhile."""
    from edgebench.cache import _remove

    cache = Cache(tmp_path)
    entry = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    judged = entry.folder.stat().st_ino
    entry.folder.rename(tmp_path / "judged")  # kept, so the fresh folder cannot reuse its inode
    fresh = cache.get_or_build("ns", FIELDS, _writer(b"abc"))
    _remove(fresh.folder, judged)
    assert cache.get("ns", FIELDS).cached


def _build_concurrently(root: str, barrier, results, tag: int) -> None:
    cache = Cache(root)
    barrier.wait()

    def build(folder):
        time.sleep(0.3)  # both writers are inside their builds at once
        (folder / "model.bin").write_bytes(f"built by writer {tag}".encode() * 1000)
        (folder / "sub").mkdir()
        (folder / "sub" / "weights.bin").write_bytes(os.urandom(1 << 16))
        return {"writer": tag}

    entry = cache.get_or_build("ns", FIELDS, build)
    results.put((tag, entry.status, str(entry.folder), entry.files, entry.meta))


def test_writers_in_several_processes_all_end_with_the_one_valid_entry(tmp_path):
    ctx = multiprocessing.get_context("fork")
    n = 4
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_build_concurrently, args=(str(tmp_path), barrier, results, i)) for i in range(n)]
    for p in procs:
        p.start()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert {status for _, status, *_ in got} <= {"built", "hit"}
    assert len({folder for _, _, folder, _, _ in got}) == 1
    assert all(files == got[0][3] and meta == got[0][4] for *_, files, meta in got)  # all hold the winner's
    entry = Cache(tmp_path).get("ns", FIELDS)
    assert entry.cached and sorted(entry.files) == ["model.bin", "sub/weights.bin"]
    assert entry.path("model.bin").read_bytes() == f"built by writer {entry.meta['writer']}".encode() * 1000
    assert not _litter(tmp_path)


def _slow_writer(root: str, started) -> None:
    with Cache(root).writing("ns", FIELDS) as draft:
        started.set()
        for i in range(6):
            (draft.folder / f"part{i}.bin").write_bytes(os.urandom(1 << 20))
            time.sleep(0.05)
        draft.meta["parts"] = 6


def test_a_reader_never_sees_an_entry_being_written(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started = ctx.Event()
    writer = ctx.Process(target=_slow_writer, args=(str(tmp_path), started))
    writer.start()
    assert started.wait(60)
    cache, seen = Cache(tmp_path), []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        entry, rejected = cache.lookup("ns", FIELDS)
        seen.append(rejected)
        if entry is not None:
            break
    writer.join(timeout=60)
    assert writer.exitcode == 0
    assert entry is not None and len(entry.files) == 6 and entry.meta == {"parts": 6}
    assert not any(seen) and len(seen) > 1  # looked while it was being written, never judged a half entry


@pytest.fixture(scope="module")
def _cache_seen_by_a_module_fixture():
    import os

    return os.environ.get("EDGEBENCH_CACHE")


def test_fixtures_of_module_scope_use_the_tests_cache_not_the_users(_cache_seen_by_a_module_fixture, tmp_path_factory):
    """A module-scoped fixture is set up before the per-test cache fixture: it too must see
    EDGEBENCH_CACHE under pytest's folder (test_profile's exported model and its task inputs
    landed in ~/.cache/edgebench on every run before)."""
    from pathlib import Path

    assert _cache_seen_by_a_module_fixture is not None
    assert Path(_cache_seen_by_a_module_fixture).is_relative_to(tmp_path_factory.getbasetemp())
