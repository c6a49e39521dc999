"""`atilax db`: migrate creates the schema; dead letters written by the service are listed."""
from __future__ import annotations

import json

from tb_bridge.cli.main import main
from tb_bridge.history.store import HistoryStore


def test_migrate_then_list_dead_letters(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/h.db"
    assert main(["db", "migrate", "--url", url]) == 0
    assert "schema at revision" in capsys.readouterr().out
    with HistoryStore(url) as store:
        store.dead_letter("mqtt", {"raw": "{bad"}, "malformed JSON", well_id="w-7")
    assert main(["db", "dead-letters", "--url", url, "--json"]) == 0
    (letter,) = json.loads(capsys.readouterr().out)
    assert letter["source"] == "mqtt" and letter["well_id"] == "w-7" and letter["error"] == "malformed JSON"
    assert main(["db", "dead-letters", "--url", url]) == 0
    assert "malformed JSON" in capsys.readouterr().out
