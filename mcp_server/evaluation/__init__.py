"""Evaluation: the evaluator with Reflexion (evaluator.py), the dual judge (judging.py, kappa.py,
ground_truth.py), the staged judge (staged_judge.py) and the golden set (golden.py); service.py
runs them for the MCP tools, cli.py for `cognitive-memory judge|golden`."""
