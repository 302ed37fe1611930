"""Evaluation: evaluator, Reflexion, dual judge, staged judge, golden set."""
