"""Model evaluation: one evaluator per metric family, each a pure function returning a dict.

- ``ranking``: ROC-AUC, PR-AUC, F1 at the stored threshold, confusion counts (per label, per corpus);
- ``calibration``: expected calibration error, Brier score, reliability diagrams;
- ``bias``: subgroup AUC, BPSN, BNSP, power means and the Jigsaw final bias score;
- ``functional``: hand-written functional suites (pass rates by threshold and by rank);
- ``policy_outcomes``: what the moderation policy does with the scores (allow / review / reject);
- ``baselines``: the shipped baseline classifiers, run in their own venv;
- ``report``: report.json and report.md; ``pipeline``: what ``civility evaluate`` runs.
"""
