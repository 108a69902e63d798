"""Queue priority: the highest label score plus a weight per open reader report."""

from __future__ import annotations

from civility.service.moderation.config import PriorityRules


def priority_of(max_score: float, open_reports: int, rules: PriorityRules) -> float:
    return round(max_score + rules.report_weight * open_reports, 6)
