"""Bad and unusual inputs: grayscale, RGBA, 16-bit, palette, very large, unreadable, empty/corrupt video."""


import numpy as np
import pytest
from PIL import Image

from data import media


def _save(path, array, mode=None):
  (Image.fromarray(array, mode) if mode else Image.fromarray(array)).save(path)
  return path


def test_grayscale_rgba_16bit_palette(tmp_path):
  rng = np.random.default_rng(0)
  gray = rng.integers(0, 256, (40, 50), dtype=np.uint8)
  img, notes, scale = media.load_image(_save(tmp_path / 'g.png', gray))
  assert img.shape == (40, 50, 3) and img.dtype == np.uint8 and 'grayscale' in notes and scale == 1.0
  np.testing.assert_array_equal(img[..., 1], gray)

  rgba = rng.integers(0, 256, (40, 50, 4), dtype=np.uint8)
  img, notes, _ = media.load_image(_save(tmp_path / 'a.png', rgba))
  assert 'alpha' in notes
  np.testing.assert_array_equal(img, rgba[..., :3])

  g16 = (rng.integers(0, 65536, (40, 50))).astype(np.uint16)
  Image.fromarray(g16).save(tmp_path / 'g16.png')
  assert Image.open(tmp_path / 'g16.png').mode.startswith('I')
  img, notes, _ = media.load_image(tmp_path / 'g16.png')
  assert 'high_bit_depth' in notes and 'grayscale' in notes
  np.testing.assert_allclose(img[..., 0], np.round(g16 / 65535.0 * 255.0), atol=1)

  pal = Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).convert('P')
  pal.save(tmp_path / 'p.png')
  img, notes, _ = media.load_image(tmp_path / 'p.png')
  assert img.shape == (40, 50, 3) and 'palette' in notes


def test_large_images(tmp_path):
  big = np.zeros((1000, 600, 3), np.uint8)
  path = _save(tmp_path / 'big.jpg', big)
  img, notes, scale = media.load_image(path, max_side=500)
  assert img.shape == (500, 300, 3) and scale == 0.5 and 'large_image_downscaled' in notes
  with pytest.raises(media.Drop) as e:
    media.load_image(path, max_pixels=100_000)
  assert e.value.reason == media.IMAGE_TOO_LARGE


@pytest.mark.parametrize('content', [b'', b'not an image at all', b'\x89PNG\r\n\x1a\n' + b'\0' * 40])
def test_unreadable_images(tmp_path, content):
  path = tmp_path / 'bad.png'
  path.write_bytes(content)
  with pytest.raises(media.Drop) as e:
    media.load_image(path)
  assert e.value.reason == media.UNREADABLE_IMAGE


def test_truncated_jpeg(tmp_path, shared):
  data = (shared / 'media' / 'photos' / 'obama.jpg').read_bytes()
  path = tmp_path / 'cut.jpg'
  path.write_bytes(data[:len(data) // 3])
  with pytest.raises(media.Drop) as e:
    media.load_image(path)
  assert e.value.reason == media.UNREADABLE_IMAGE
  with pytest.raises(media.Drop) as e:
    media.load_image(tmp_path / 'missing.jpg')
  assert e.value.reason == media.MISSING_FILE


def test_zero_length_and_garbage_video(tmp_path):
  (tmp_path / 'empty.mp4').write_bytes(b'')
  with pytest.raises(media.Drop) as e:
    media.FrameSource(tmp_path / 'empty.mp4')
  assert e.value.reason == media.EMPTY_VIDEO
  (tmp_path / 'junk.mp4').write_bytes(np.random.default_rng(0).bytes(5000))
  with pytest.raises(media.Drop) as e:
    media.FrameSource(tmp_path / 'junk.mp4')
  assert e.value.reason == media.CORRUPT_VIDEO
  (tmp_path / 'frames').mkdir()
  with pytest.raises(media.Drop) as e:
    media.FrameSource(tmp_path / 'frames')
  assert e.value.reason == media.EMPTY_VIDEO


def _remux_faststart(src, dst):
  """Copies the video stream with the index (moov) first, so that a truncated copy still opens."""
  import av  # pylint: disable=g-import-not-at-top
  with av.open(str(src)) as i, av.open(str(dst), 'w', options={'movflags': 'faststart'}) as o:
    s = i.streams.video[0]
    out = o.add_stream_from_template(s)
    for p in i.demux(s):
      if p.dts is not None:
        p.stream = out
        o.mux(p)


def test_video_decoding_and_truncation(tmp_path, shared):
  src = shared / 'media' / 'video' / 'short_hamilton_clip.mp4'
  v = media.FrameSource(src)
  assert v.num_frames == 275 and v.size == (640, 360)
  frames = v.read([0, 100, 100, 5000])
  assert sorted(frames) == [0, 100] and frames[100].shape == (360, 640, 3)
  # Truncated with the index at the end (as shipped): the container does not open.
  data = src.read_bytes()
  (tmp_path / 'cut.mp4').write_bytes(data[:len(data) // 2])
  with pytest.raises(media.Drop) as e:
    media.FrameSource(tmp_path / 'cut.mp4')
  assert e.value.reason == media.CORRUPT_VIDEO
  # Truncated with the index first: opens, but half of the frames are missing.
  _remux_faststart(src, tmp_path / 'fast.mp4')
  assert media.FrameSource(tmp_path / 'fast.mp4').num_frames == 275
  fast = (tmp_path / 'fast.mp4').read_bytes()
  (tmp_path / 'fastcut.mp4').write_bytes(fast[:len(fast) // 2])
  with pytest.raises(media.Drop) as e:
    media.FrameSource(tmp_path / 'fastcut.mp4')
  assert e.value.reason == media.CORRUPT_VIDEO and 'truncated' in str(e.value)


def test_frame_folder(tmp_path):
  d = tmp_path / 'clip'
  d.mkdir()
  for i in range(3):
    _save(d / f'{i:07d}.png', np.full((20, 30, 3), 50 * i, np.uint8))
  (d / '0000003.png').write_bytes(b'broken')
  src = media.FrameSource(d)
  assert src.num_frames == 4 and src.size == (30, 20)
  frames = src.read(range(4))
  assert sorted(frames) == [0, 1, 2] and frames[2][0, 0, 0] == 100
