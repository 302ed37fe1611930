"""Information density, the fidelity score of an L2 insight.

density = distinct content words / all words, where a word is a run of letters or digits
(joined by . : / - inside, so 10.0.0.5, 02:00 and 2024-05-01 are one word each) and a
content word is one longer than three characters or one with a digit. The length rule is
a language-neutral stand-in for a stop-word list: function words ("the", "and", "is",
"der", "und", "est") are short; numbers, addresses and times are facts, however short.
Repetitive or vague text scores low; below 0.5 the compression probably lost or diluted
what the source said.
"""

from __future__ import annotations

import re

LOW_DENSITY = 0.5
_WORD = re.compile(r"\w+(?:[.:/-]\w+)*", re.UNICODE)


def information_density(text: str) -> float:
    words = [word.lower() for word in _WORD.findall(text)]
    if not words:
        return 0.0
    content_words = {w for w in words if len(w) > 3 or any(c.isdigit() for c in w)}
    return round(len(content_words) / len(words), 4)
