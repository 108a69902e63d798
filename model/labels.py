"""The label set, read from ``configs/labels.yaml`` (the single source of truth)."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field

from civility.model.resources import load_yaml

PolicyGroup = Literal["abuse", "threat", "harassment"]


class Label(BaseModel):
    id: str = Field(pattern=r"^[a-z_]+$")
    description: str
    perspective: str = Field(pattern=r"^[A-Z_]+$")
    group: PolicyGroup


class LabelSet(BaseModel):
    labels: list[Label]

    @property
    def ids(self) -> list[str]:
        return [label.id for label in self.labels]

    def by_id(self, label_id: str) -> Label:
        for label in self.labels:
            if label.id == label_id:
                return label
        raise KeyError(label_id)

    def by_perspective(self, attribute: str) -> Label:
        for label in self.labels:
            if label.perspective == attribute:
                return label
        raise KeyError(attribute)


@lru_cache(maxsize=1)
def load_labels() -> LabelSet:
    """The configured labels, in model-output order."""
    return LabelSet.model_validate(load_yaml("labels.yaml"))


def label_ids() -> list[str]:
    return load_labels().ids
