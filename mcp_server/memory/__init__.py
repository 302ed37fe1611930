"""The memory domain: plain SQL repositories over one async connection each.

They know no transport and call no model: callers pass embeddings in.
"""
