import os.path as osp

import pytest
from zoo_table import END, START, main, make_table, render_block, replace_block

from mmhssl.apis.metafiles import metafile_entries, zoo_root


def test_readme_table_matches_the_metafiles():
    readme = osp.join(zoo_root(), 'README.md')
    with open(readme, encoding='utf-8') as f:
        text = f.read()
    assert START in text and END in text, \
        'README.md has no model-zoo table markers; add them and run tools/zoo_table.py --update'
    block = text[text.index(START):text.index(END) + len(END)]
    assert block == render_block(), \
        'README.md model-zoo table is stale; run python tools/zoo_table.py --update'


def test_table_lists_every_model_with_its_published_numbers():
    models = metafile_entries()
    table = make_table(models)
    rows = [line for line in table.splitlines() if line.startswith('| [')]
    assert [r.split('](')[0][3:] for r in rows] == [m['Name'] for m in models]
    by_name = {r.split('](')[0][3:]: r for r in rows}
    vit_b = 'hssl-ibot_vit-base-p16_aux-convnext3_8xb32-amp-{}e_in1k'
    # The paper's numbers appear only under their label, never as results of the config.
    for epochs, top1 in ((100, 83.8), (150, 84.1)):
        cell = by_name[vit_b.format(epochs)].split(' | ')[5]
        assert cell.startswith('-<br>reported by the paper, not measured here: ')
        assert f'Top 1 Accuracy: {top1}' in cell
    for m in models:
        row = by_name[m['Name']]
        if not m['Results']:
            assert row.split(' | ')[5].split('<br>')[0] == '-'
        assert ('not published' in row) == (m.get('Weights') is None)
        assert osp.isfile(osp.join(zoo_root(), row.split('](')[1].split(')')[0]))


def test_update_and_check_rewrite_only_the_block(tmp_path, capsys):
    readme = tmp_path / 'README.md'
    readme.write_text(f'# Title\n\nintro\n\n{START}\nold table\n{END}\n\n## After\n')
    assert main(['--check', '--readme', str(readme)]) == 1
    assert 'stale' not in capsys.readouterr().out
    assert main(['--update', '--readme', str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith('# Title\n\nintro\n\n') and text.endswith('\n\n## After\n')
    assert render_block() in text and 'old table' not in text
    assert main(['--check', '--readme', str(readme)]) == 0


def test_missing_markers_are_reported():
    with pytest.raises(ValueError, match='markers'):
        replace_block('# no table here\n', render_block())
