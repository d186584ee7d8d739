import numpy as np

from edgebench.data.photos import photo_inputs, sample_photos


def test_real_photos_ship_with_scikit_image():
    photos = sample_photos()
    assert len(photos) >= 4
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in photos)


def test_photo_inputs_are_normalised_and_seeded():
    a = photo_inputs((32, 32), 6, seed=2)
    b = photo_inputs((32, 32), 6, seed=2)
    assert len(a) == 6 and a[0].shape == (3, 32, 32) and a[0].dtype == np.float32
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert -3 < float(np.mean(a)) < 3 and float(np.std(a[0])) > 0.1
