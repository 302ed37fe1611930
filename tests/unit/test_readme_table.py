"""make bench renders every bench/results/*.json into the README between its two markers."""

from __future__ import annotations

import json

import pytest

from bench import readme_table

RESULT = {
    "title": "Deploy wall times",
    "machine": "AMD EPYC, 2 cores",
    "date": "2026-11-26",
    "versions": {"pyinfra": "3.4", "ansible": "12.3"},
    "columns": ["tool", "first run s", "note"],
    "rows": [["pyinfra", 61.234, "a|b"], ["ansible", 95.0, None]],
    "command": "python bench/deploy_times.py",
    "details": {"kept in the file": True},
}


@pytest.fixture
def repo(tmp_path, monkeypatch):
    results = tmp_path / "results"
    results.mkdir()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{readme_table.START}\nold\n{readme_table.END}\nafter\n")
    monkeypatch.setattr(readme_table, "RESULTS", results)
    monkeypatch.setattr(readme_table, "README", readme)
    monkeypatch.setattr(readme_table, "REPO", tmp_path)
    return results, readme


def test_every_result_becomes_a_table_naming_machine_versions_date_and_command(repo, monkeypatch):
    results, readme = repo
    (results / "deploy_times.json").write_text(json.dumps(RESULT))
    monkeypatch.setattr("sys.argv", ["readme_table.py"])
    readme_table.main()
    text = readme.read_text()
    assert text.startswith("# Title\n\nbefore\n") and text.endswith("after\n")
    assert "old" not in text
    assert "| tool | first run s | note |" in text
    assert "| pyinfra | 61.2 | a\\|b |" in text and "| ansible | 95.0 | – |" in text
    assert "AMD EPYC, 2 cores; 2026-11-26; pyinfra 3.4, ansible 12.3." in text
    assert "`python bench/deploy_times.py`" in text
    assert "kept in the file" not in text
    # Rendering again changes nothing, and --check agrees.
    monkeypatch.setattr("sys.argv", ["readme_table.py", "--check"])
    with pytest.raises(SystemExit) as exit_:
        readme_table.main()
    assert exit_.value.code == 0


def test_a_result_without_the_shared_shape_is_named(repo):
    results, _ = repo
    (results / "odd.json").write_text(json.dumps({"title": "x", "rows": []}))
    with pytest.raises(ValueError, match=r"odd\.json lacks machine, date, versions, columns"):
        readme_table.section()


def test_a_result_names_the_command_with_paths_inside_the_repository_made_relative():
    """A folder beside the repository (`--keep /work/tree-keep` next to /work/tree) shares
    its name as a prefix but is not inside it: it is kept as given, not a crash at the end
    of a long run."""
    from bench import results_file

    repo = results_file.RESULTS.parents[1]
    argv = [str(repo / "bench" / "hybrid_search.py"), "--keep", f"{repo}-keep/cluster"]
    assert results_file._relative(argv) == [
        "bench/hybrid_search.py",
        "--keep",
        f"{repo}-keep/cluster",
    ]
