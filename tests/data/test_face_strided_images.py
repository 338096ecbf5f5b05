"""dlib's binding needs C-contiguous uint8 images; the analyzer takes any view of a frame (a crop, a
channel-reordered or padded decode) and gives the same faces and descriptors as for a contiguous copy."""

import numpy as np

from common import paths
from data import face
from data import media


def test_detection_and_descriptor_of_a_strided_view_equal_the_contiguous_images():
  image, _, _ = media.load_image(paths.shared_path('media', 'photos', 'obama.jpg'))
  padded = np.zeros((image.shape[0], image.shape[1] + 7, 3), np.uint8)
  padded[:, :image.shape[1]] = image
  view = padded[:, :image.shape[1]]  # same pixels, row stride of the padded array
  assert not view.flags['C_CONTIGUOUS']
  analyzer = face.FaceAnalyzer(min_face_size=0)
  want, got = analyzer.detect(image), analyzer.detect(view)
  assert len(want) == len(got) >= 1
  np.testing.assert_array_equal(want[0].landmarks, got[0].landmarks)
  d_want = analyzer.describe(image, want[0])
  d_got = analyzer.describe(view, got[0])
  assert d_got.shape == (128,)
  np.testing.assert_allclose(d_got, d_want, atol=1e-6)
