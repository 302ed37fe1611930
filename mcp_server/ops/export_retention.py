"""Retention of the L2 export history: commits older than N days folded into one.

The export's git history lets an operator replay the insights as they were on any day
(`cognitive-memory import FOLDER --at COMMIT`). Past the retention, that history goes: the
newest commit older than the cutoff becomes the new root (so the state as of the cutoff stays
replayable), the commits after it are re-parented onto it unchanged (same tree, message,
author and times), and the objects nothing reaches any more are deleted. The newest export is
never touched.
"""

from __future__ import annotations

import datetime as dt

from dulwich import porcelain
from dulwich.objects import Commit
from dulwich.repo import Repo

FOLDED = "\n\n(Export history before this commit was removed by retention.)\n"


def prune_history(repo: Repo, keep_days: int, now: dt.datetime | None = None) -> int:
    """Fold commits older than `keep_days`; return how many commits were removed."""
    now = now or dt.datetime.now(dt.UTC)
    cutoff = (now - dt.timedelta(days=keep_days)).timestamp()
    chain = _first_parent_chain(repo)  # newest first
    old = [i for i, commit in enumerate(chain) if commit.commit_time < cutoff]
    if not old or old[0] == len(chain) - 1:
        return 0  # nothing older than the cutoff, or only the root already
    base = old[0]
    kept = list(reversed(chain[: base + 1]))  # oldest (the new root) to newest
    parent = None
    for commit in kept:
        copy = _copy(commit, parent, root=parent is None)
        repo.object_store.add_object(copy)
        parent = copy.id
    repo.refs[_branch(repo)] = parent
    porcelain.gc(repo, prune=True, grace_period=0)
    return len(chain) - len(kept)


def _first_parent_chain(repo: Repo) -> list[Commit]:
    chain, sha = [], repo.head()
    while sha is not None:
        commit = repo[sha]
        chain.append(commit)
        sha = commit.parents[0] if commit.parents else None
    return chain


def _copy(commit: Commit, parent: bytes | None, *, root: bool) -> Commit:
    copy = Commit()
    copy.tree = commit.tree
    copy.parents = [parent] if parent else []
    copy.author, copy.committer = commit.author, commit.committer
    copy.author_time, copy.commit_time = commit.author_time, commit.commit_time
    copy.author_timezone, copy.commit_timezone = commit.author_timezone, commit.commit_timezone
    copy.encoding = commit.encoding
    message = commit.message
    copy.message = message.rstrip(b"\n") + FOLDED.encode() if root else message
    return copy


def _branch(repo: Repo) -> bytes:
    """The branch HEAD points at (refs/heads/master for a dulwich-made export)."""
    target, _ = repo.refs.follow(b"HEAD")
    return target[-1]
