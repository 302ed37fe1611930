"""Information density, the fidelity score of an L2 insight.

density = distinct content words / all words, where a word is a run of letters or digits
and a content word is one longer than three characters. The length rule is a
language-neutral stand-in for a stop-word list: function words ("the", "and", "is",
"der", "und", "est") are short. Repetitive or vague text scores low; below 0.5 the
compression probably lost or diluted what the source said.
"""

from __future__ import annotations

import re

LOW_DENSITY = 0.5
_WORD = re.compile(r"\w+", re.UNICODE)


def information_density(text: str) -> float:
    words = [word.lower() for word in _WORD.findall(text)]
    if not words:
        return 0.0
    content_words = {word for word in words if len(word) > 3}
    return round(len(content_words) / len(words), 4)
