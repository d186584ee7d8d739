import shutil

import numpy as np
import pytest

from edgebench.data.synth import VIDEO_CLASSES, write_image_set
from edgebench.data.ucf50 import ClipDataset, index_ucf50, sample_indices
from edgebench.errors import InvalidConfigError


def test_synthetic_set_has_ucf50_layout(synth_videos):
    assert synth_videos.name == "UCF50"
    for cls in VIDEO_CLASSES:
        files = sorted((synth_videos / cls).glob("*.avi"))
        assert len(files) == 36 and files[0].name == f"v_{cls}_g01_c01.avi"


def test_index_labels_from_folder_and_group_split(synth_videos):
    idx = index_ucf50(synth_videos.parent)  # the parent of UCF50/ works too
    assert idx.classes == sorted(VIDEO_CLASSES)[:4]
    assert idx.groups() == [1, 2, 3, 4, 5, 6]
    train, val = idx.split()
    assert {i.group for i in val} == {6} and not {i.group for i in train} & {i.group for i in val}
    folds = list(idx.leave_one_group_out())
    assert [g for g, _, _ in folds] == [1, 2, 3, 4, 5, 6]
    for g, tr, va in folds:
        assert {i.group for i in va} == {g} and g not in {i.group for i in tr}
    assert index_ucf50(synth_videos, ["MoveUp", "MoveLeft"]).classes == ["MoveUp", "MoveLeft"]
    with pytest.raises(InvalidConfigError, match="not in"):
        index_ucf50(synth_videos, ["Basketball"])
    with pytest.raises(InvalidConfigError, match="leave no training group"):
        idx.split(val_groups=[1, 2, 3, 4, 5, 6])


def test_label_comes_from_folder_not_file_name(tmp_path, synth_videos):
    # UCF50's Billiards folder holds v_Billards_*.avi
    root = tmp_path / "UCF50"
    (root / "Billiards").mkdir(parents=True)
    (root / "Basketball").mkdir()
    shutil.copy(synth_videos / "MoveUp" / "v_MoveUp_g01_c01.avi", root / "Billiards" / "v_Billards_g01_c01.avi")
    shutil.copy(synth_videos / "MoveUp" / "v_MoveUp_g02_c01.avi", root / "Basketball" / "v_Basketball_g02_c01.avi")
    (root / "Basketball" / "notes.txt").write_text("x")
    idx = index_ucf50(root)
    assert idx.classes == ["Basketball", "Billiards"]
    assert [(i.path.name, i.label, i.group) for i in idx.items] == [
        ("v_Basketball_g02_c01.avi", 0, 2), ("v_Billards_g01_c01.avi", 1, 1)]
    assert [p.name for p in idx.ignored] == ["notes.txt"]


def test_bad_videos_are_skipped_counted_and_named(tmp_path, synth_videos, caplog):
    import cv2

    folder = tmp_path / "UCF50" / "MoveUp"
    folder.mkdir(parents=True)
    good = folder / "v_MoveUp_g01_c01.avi"
    shutil.copy(synth_videos / "MoveUp" / "v_MoveUp_g01_c01.avi", good)
    (folder / "v_MoveUp_g01_c02.avi").write_bytes(b"")  # empty
    (folder / "v_MoveUp_g01_c03.avi").write_bytes(b"RIFF\x00\x01garbage" * 10)  # corrupt
    data = good.read_bytes()
    (folder / "v_MoveUp_g01_c04.avi").write_bytes(data[: len(data) // 3])  # truncated
    w = cv2.VideoWriter(str(folder / "v_MoveUp_g01_c05.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (64, 64))
    for _ in range(3):  # too short for 8 frames
        w.write(np.zeros((64, 64, 3), np.uint8))
    w.release()
    idx = index_ucf50(tmp_path / "UCF50")
    with caplog.at_level("WARNING", logger="edgebench.data"):
        ds = ClipDataset(idx.items, 8, (64, 64))
    assert len(ds) >= 1 and ds[0][0].shape == (3, 8, 64, 64)
    skipped = {p.split("/")[-1]: why for p, why in ds.skips.skipped.items()}
    for name in ("v_MoveUp_g01_c02.avi", "v_MoveUp_g01_c03.avi", "v_MoveUp_g01_c05.avi"):
        assert name in skipped
    assert "too short: 3 frames" in skipped["v_MoveUp_g01_c05.avi"]
    assert len(ds) + len(ds.skips) == 5
    assert "v_MoveUp_g01_c02.avi" in caplog.text


def test_uniform_sampling():
    assert list(sample_indices(24, 8)) == [0, 3, 7, 10, 13, 16, 20, 23]
    assert list(sample_indices(8, 8)) == list(range(8))


def test_image_set_layout(tmp_path):
    from edgebench.data.images import ImageFolderDataset

    out = write_image_set(tmp_path, per_class=8)
    ds = ImageFolderDataset(out / "train", (32, 32))
    assert ds.classes == ["circle", "square"] and len(ds) == 12 and ds[0][0].shape == (3, 32, 32)
    assert len(ImageFolderDataset(out / "val", (32, 32))) == 4
