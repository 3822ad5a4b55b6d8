"""Several processes writing one video cache at once (the Ray farm's workers share `PAV_CACHE`): every video lands,
each is logged once, nothing is left pending, and no writer fails. Each writer opens the cache before every batch,
so the recovery sweep at open (`settle_pending`) runs against the other writers' commits again and again."""
import multiprocessing as mp

import numpy as np

from prompt_a_video.core import PENDING
from prompt_a_video.media import Video
from prompt_a_video.video import VideoCache

WRITERS, BATCHES, PER_BATCH = 3, 40, 2


def write(args):
    root, w = args
    errors = []
    for b in range(BATCHES):
        items = [(f"{w:02x}{b:02x}{k:02x}".ljust(64, "0"), Video(np.full((1, 4, 4, 3), 16 * w + k, np.uint8), fps=8), {"w": w})
                 for k in range(PER_BATCH)]
        try: VideoCache(root).put_batch(items)
        except Exception as e: errors.append(f"{type(e).__name__}: {e}")
    return errors


def test_writers_sharing_one_cache(tmp_path):
    with mp.get_context("spawn").Pool(WRITERS) as pool:
        errors = pool.map(write, [(tmp_path, w) for w in range(WRITERS)])
    assert errors == [[]] * WRITERS
    cache = VideoCache(tmp_path)
    keys = cache.renders()
    assert len(keys) == len(set(keys)) == WRITERS * BATCHES * PER_BATCH       # each video logged exactly once
    assert all(k in cache for k in keys)
    assert list((tmp_path / PENDING).iterdir()) == []
    v = cache.get(keys[0])
    assert v.meta["w"] == int(keys[0][:2], 16) and int(v.frames[0, 0, 0, 0]) == 16 * v.meta["w"] + int(keys[0][4:6], 16)
