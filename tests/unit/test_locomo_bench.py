"""bench/locomo.py reads a client's own distilled insights (LoCoMo's session observations)."""

from __future__ import annotations

import json

from bench.locomo import Observation, insight_texts, read_conversation


def test_observations_keep_their_session_and_the_evidence_turns_that_exist(tmp_path):
    document = {
        "conversation": {
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"dia_id": "D1:1", "speaker": "Ann", "text": "I adopted a cat."},
                {"dia_id": "D1:2", "speaker": "Bob", "text": "Lovely! Which breed?"},
                {"dia_id": "D1:3", "speaker": "Ann", "text": "A Maine Coon."},
            ],
        },
        "session_1_observation": {
            "Ann": [
                ["Ann adopted a cat.", "D1:1"],
                ["Ann's cat is a Maine Coon.", ["D1:1", "D1:3"]],
                ["Ann mentioned a turn that is not there.", "D9:9"],
            ],
            "Bob": [["Bob asked about the breed.", "D:1:2; D1:99"]],
        },
        "qa": [
            {"question": "What cat?", "answer": "Maine Coon", "evidence": ["D1:3"], "category": 4}
        ],
    }
    path = tmp_path / "conv-x.json"
    path.write_text(json.dumps(document))
    conversation = read_conversation(path)
    assert conversation.observations == [
        Observation("session_1", "Ann adopted a cat.", {"D1:1"}),
        Observation("session_1", "Ann's cat is a Maine Coon.", {"D1:1", "D1:3"}),
        Observation("session_1", "Bob asked about the breed.", {"D1:2"}),
    ]
    assert insight_texts(conversation, "observations")[1] == "Ann's cat is a Maine Coon."
    assert insight_texts(conversation, "turns")[0] == "Ann: I adopted a cat."
    # Both: the turns first, then the observations (load() takes them in that order).
    both = insight_texts(conversation, "both")
    assert len(both) == 6 and both[2] == "Ann: A Maine Coon." and both[3] == "Ann adopted a cat."
