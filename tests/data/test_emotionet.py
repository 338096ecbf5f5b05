"""EmotioNet AU lists: both layouts; malformed lines are skipped and counted, never fatal."""

import numpy as np
import pytest

from data import emotionet
from tests import format_fuzz

URL = 'http://cbcsnas01.ece.ohio-state.edu/EmotioNet/Images/dataFile_1001/a.jpg'


def _aus(coded=(0, 1, 3, 11), smile=False):
  aus = ['999'] * 60
  for k in coded:
    aus[k] = '0'
  if smile:
    aus[11] = '1'
  return aus


def test_tab_and_csv_lists_give_locations_and_neutrality(tmp_path):
  lines = [URL + '\t' + '\t'.join(_aus()), 'http://example.org/photos/b.jpg\t' + '\t'.join(_aus(smile=True)),
           'http://example.org/c.jpg\t' + '\t'.join(_aus(coded=())), 'garbage line']
  (tmp_path / 'dataFile_1001.txt').write_text('\n'.join(lines) + '\n')
  e = emotionet.read_emotionet_au_file(tmp_path / 'dataFile_1001.txt')
  assert [x.is_neutral for x in e] == [True, False, False]
  assert e[0].relative_path() == 'dataFile_1001/a.jpg' and e[1].relative_path() == 'b.jpg'
  header = 'path,' + ','.join(f'AU{i}' for i in range(1, 61))
  (tmp_path / 'list.csv').write_text(header + '\nimgs/x.jpg,' + ','.join(_aus()) + '\nimgs/y.jpg,' +
                                     ','.join(_aus(smile=True)) + '\n')
  c = emotionet.read_emotionet_au_file(tmp_path / 'list.csv')
  assert [(x.relative_path(), x.is_neutral) for x in c] == [('imgs/x.jpg', True), ('imgs/y.jpg', False)]
  assert c[1].aus[11] == 1 and c[1].aus[20] == emotionet.NOT_CODED


@pytest.mark.parametrize('value', ['inf', '-inf', 'nan', '0.5', '2', '1e999', 'yes'])
def test_bad_au_values_skip_the_line_and_are_counted(tmp_path, value):
  bad = _aus()
  bad[5] = value
  good = URL + '\t' + '\t'.join(_aus())
  lines = [good, 'http://x/b.jpg\t' + '\t'.join(bad), good]
  (tmp_path / 'tab.txt').write_text('\n'.join(lines) + '\n')
  r = emotionet.read_emotionet_au_list(tmp_path / 'tab.txt')
  assert len(r.entries) == 2 and [line for line, _ in r.skipped] == [2]
  assert value in r.skipped[0][1]
  header = 'path,' + ','.join(f'AU{i}' for i in range(1, 61))
  (tmp_path / 'l.csv').write_text(f'{header}\na.jpg,{",".join(_aus())}\nb.jpg,{",".join(bad)}\n')
  r = emotionet.read_emotionet_au_list(tmp_path / 'l.csv')
  assert [e.location for e in r.entries] == ['a.jpg'] and [line for line, _ in r.skipped] == [3]


def test_too_many_aus_and_empty_locations_are_skipped(tmp_path):
  lines = [URL + '\t' + '\t'.join(_aus() + ['0']), '\t' + '\t'.join(_aus()),
           URL + '\t' + '\t'.join(_aus()[:12])]
  (tmp_path / 'tab.txt').write_text('\n'.join(lines) + '\n')
  r = emotionet.read_emotionet_au_list(tmp_path / 'tab.txt')
  assert [line for line, _ in r.skipped] == [1, 2] and len(r.entries) == 1
  assert np.all(r.entries[0].aus[12:] == emotionet.NOT_CODED)  # missing trailing AUs: not coded
  assert '61 AU values' in r.skipped[0][1] and 'empty image location' in r.skipped[1][1]


def _check_list(r):
  assert all(e.location.strip() and e.aus.shape == (60,) and set(np.unique(e.aus)) <= {0, 1, 999}
             for e in r.entries)
  assert all(line >= 1 and reason for line, reason in r.skipped)


def test_fuzzed_lists_never_raise_and_keep_only_valid_entries(tmp_path):
  tab = '\n'.join(f'http://x/{i}.jpg\t' + '\t'.join(_aus(smile=i % 2 == 1)) for i in range(5)) + '\n'
  header = 'path,' + ','.join(f'AU{i}' for i in range(1, 61))
  csv_text = header + '\n' + '\n'.join(f'i/{i}.jpg,' + ','.join(_aus()) for i in range(5)) + '\n'
  for name, text in (('fuzz.txt', tab), ('fuzz.csv', csv_text)):
    outcome = format_fuzz.fuzz(emotionet.read_emotionet_au_list, text, _check_list, tmp_path, name, count=300)
    assert outcome['accepted'] == 300, outcome  # lists never fail as a whole
