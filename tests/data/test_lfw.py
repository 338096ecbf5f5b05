"""LFW pairs.txt and image paths; malformed pair files raise FormatError naming file and line."""

import pytest

from common.errors import FormatError
from data import lfw
from tests import format_fuzz

TWO_FOLDS = '2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t2\t4\nC\t1\tD\t1\n'


def test_real_pairs_and_image_paths(shared, tmp_path):
  root = shared / 'formats' / 'lfw'
  pairs = lfw.read_lfw_pairs(root / 'pairs.txt')
  assert len(pairs) == 6000 and sum(p.same for p in pairs) == 3000
  assert {p.fold for p in pairs} == set(range(10))
  assert lfw.lfw_image_path(root, 'Anthony_Hopkins', 1).is_file()  # flat folder of the real pair
  (tmp_path / 'pairs.txt').write_text('1\t1\nA\t1\t2\nA\t1\tB\t3\n')
  (tmp_path / 'A').mkdir()
  p = lfw.read_lfw_pairs(tmp_path / 'pairs.txt')
  assert p[0].same and not p[1].same and p[1].index_b == 3
  assert lfw.lfw_image_path(tmp_path, 'A', 2) == tmp_path / 'A' / 'A_0002.jpg'
  with pytest.raises(ValueError):
    lfw.lfw_image_path(tmp_path, 'A', 0)


def test_folds_alternate_matched_and_mismatched_blocks(tmp_path):
  (tmp_path / 'p.txt').write_text(TWO_FOLDS)
  p = lfw.read_lfw_pairs(tmp_path / 'p.txt')
  assert [(x.fold, x.same) for x in p] == [(0, True), (0, False), (1, True), (1, False)]


@pytest.mark.parametrize('text, message, line', [
    ('', 'empty file', None),
    ('\n\n', 'empty file', None),
    ('1\t2\nA\t1\t2\n', 'promises 1 folds x 2 x 2 = 4 pair lines, found 1', 1),
    ('1\t1\nA\t-1\t2\nA\t1\tB\t3\n', 'image number -1', 2),
    ('1\t1\nA\t0\t2\nA\t1\tB\t3\n', 'image number 0', 2),
    ('1\t1\nA\t1\t2.5\nA\t1\tB\t3\n', "expected an integer, got '2.5'", 2),
    ('1\t1\nA\t1\tB\t3\nA\t1\t2\n', 'expected a matched', 2),  # blocks swapped
    ('2\t1\nA\t1\t2\nA\t1\tB\t3\nC\t1\tD\t1\nC\t2\t4\n', 'fold 1: expected a matched', 4),
    ('1\t1\nA\t1\t2\nA\t1\tA\t3\n', "names 'A' twice", 3),
    ('x\t1\nA\t1\t2\nA\t1\tB\t3\n', "header: expected an integer, got 'x'", 1),
    ('0\t1\n', 'expected positive counts', 1),
    ('1 2 3\n', 'header', 1),
])
def test_malformed_pairs_raise_format_error_naming_file_and_line(tmp_path, text, message, line):
  path = tmp_path / 'pairs.txt'
  path.write_text(text)
  with pytest.raises(FormatError, match=message) as e:
    lfw.read_lfw_pairs(path)
  assert e.value.path == str(path) and e.value.line == line


def test_undecodable_pairs_file_raises_format_error(tmp_path):
  (tmp_path / 'p.txt').write_bytes(b'1\t1\nA\t1\t2\n\xff\xfe\t1\tB\t3\n')
  with pytest.raises(FormatError, match='not utf-8 text') as e:
    lfw.read_lfw_pairs(tmp_path / 'p.txt')
  assert e.value.line == 3


def _check_pairs(pairs):
  per_fold = {}
  for p in pairs:
    per_fold.setdefault(p.fold, []).append(p)
    assert p.index_a >= 1 and p.index_b >= 1
  for fold in per_fold.values():
    half = len(fold) // 2
    assert all(p.same for p in fold[:half]) and not any(p.same for p in fold[half:])


def test_fuzzed_pair_files_read_correctly_or_raise_format_error(tmp_path):
  outcome = format_fuzz.fuzz(lfw.read_lfw_pairs, TWO_FOLDS, _check_pairs, tmp_path, 'fuzz.txt', count=400)
  assert outcome['rejected'] > 200 and outcome['accepted'] > 10, outcome


def test_pairs_csv_of_the_shared_photo_pairs(shared_dir):
  pairs = lfw.read_pairs_csv(shared_dir / 'media' / 'pairs' / 'pairs.csv')
  assert len(pairs) == 300
  same = sum(p[2] for p in pairs)
  assert 0 < same < 300
  assert all((shared_dir / 'media' / 'pairs' / n).is_file() for a, b, _ in pairs for n in (a, b))


@pytest.mark.parametrize('text, message, line', [
    ('', 'header', 1),
    ('a,b,c\nx.jpg,y.jpg,Yes\n', 'header', 1),
    ('file_x,file_y,Decision\nx.jpg,y.jpg\n', '3 fields', 2),
    ('file_x,file_y,Decision\nx.jpg,y.jpg,Maybe\n', 'Yes or No', 2),
    ('file_x,file_y,Decision\nx.jpg,../y.jpg,No\n', 'without folders', 2),
])
def test_malformed_pairs_csv_raises_format_error_naming_the_line(tmp_path, text, message, line):
  path = tmp_path / 'pairs.csv'
  path.write_text(text)
  with pytest.raises(FormatError, match=message) as e:
    lfw.read_pairs_csv(path)
  assert f':{line}' in str(e.value) or f'line {line}' in str(e.value)
