"""Contrast sets written by hand as templates (``configs/contrast/*.yaml``), expanded into corpus rows.

Public corpora teach some distinctions badly: an identity mention is not an attack, a negated or
quoted slur is not hate, profanity is not an insult, intimidation needs no violent word, a sexual
remark aimed at a politician is harassment. A contrast file holds *families* of templates; every
family carries one label set, and families come in matched pairs that share their vocabulary
(positive and negative), so the model can only separate them by meaning.

File layout (validated here)::

    slots:                      # fillers for {name} placeholders
      person: ["the mayor", "Sarah"]
    families:
      - name: threat_intimidation
        note: what the family teaches
        labels: {threat: 1, harassment: 1, toxicity: 0.9}   # labels left out are missing
        templates: ["I know where you park, {person}."]

Each template yields up to ``fillings_per_template`` distinct slot fillings (sampled with a fixed
seed); a template without slots yields one row. Rows of one template share a group, so they never
straddle a split.
"""

from __future__ import annotations

import math
import random
import re
import string
from itertools import product
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from civility.model.labels import label_ids
from civility.model.resources import load_yaml
from civility.training.corpora.spec import CorpusSpec, MappingError

_SLOT = re.compile(r"\{([a-z_]+)\}")
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TemplateFamily(_Strict):
    name: str = Field(pattern=r"^[a-z0-9_]+$")
    note: str = ""
    labels: dict[str, Probability] = Field(min_length=1)
    templates: list[str] = Field(min_length=1)

    @field_validator("labels")
    @classmethod
    def _known_labels(cls, labels: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(labels) - set(label_ids()))
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; known: {label_ids()}")
        return labels


class TemplateFile(_Strict):
    slots: dict[str, list[str]] = Field(default_factory=dict)
    families: list[TemplateFamily] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> TemplateFile:
        names = [family.name for family in self.families]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"family names must be unique: {repeated}")
        empty = sorted(name for name, fillers in self.slots.items() if not fillers)
        if empty:
            raise ValueError(f"slots without fillers: {empty}")
        for family in self.families:
            for template in family.templates:
                undefined = sorted(set(_SLOT.findall(template)) - set(self.slots))
                if undefined:
                    raise ValueError(
                        f"{family.name}: template {template!r} uses undefined slot(s) {undefined}"
                    )
                stray = _SLOT.sub("", template)
                if "{" in stray or "}" in stray:
                    raise ValueError(f"{family.name}: template {template!r} has a brace that is not a slot")
        return self


def load_template_file(path: Path) -> TemplateFile:
    try:
        return TemplateFile.model_validate(load_yaml(path))
    except (ValidationError, yaml.YAMLError) as exc:
        raise MappingError(f"invalid contrast template file {path}:\n{exc}") from exc


def _fill(template: str, values: dict[str, str]) -> str:
    text = _SLOT.sub(lambda m: values[m.group(1)], template)
    # A filler that opens the comment gets a capital ("the mayor" -> "The mayor ...").
    if template.startswith("{") and text[:1] in string.ascii_lowercase:
        text = text[0].upper() + text[1:]
    return text


def fillings(template: str, slots: dict[str, list[str]], limit: int, rng: random.Random) -> list[str]:
    """Up to ``limit`` distinct texts from ``template`` (all of them when there are fewer)."""
    names = list(dict.fromkeys(_SLOT.findall(template)))
    if not names:
        return [template]
    if math.prod(len(slots[name]) for name in names) <= limit:
        choices = [dict(zip(names, combo, strict=True)) for combo in product(*(slots[n] for n in names))]
    else:
        seen: set[tuple[str, ...]] = set()
        choices = []
        while len(choices) < limit:
            combo = tuple(rng.choice(slots[n]) for n in names)
            if combo not in seen:
                seen.add(combo)
                choices.append(dict(zip(names, combo, strict=True)))
    return list(dict.fromkeys(_fill(template, values) for values in choices))


def expand_template_file(path: Path, *, fillings_per_template: int, seed: int) -> pd.DataFrame:
    """One row per expanded text: ``id``, ``text``, ``group`` (file/family/template), one column per label."""
    spec = load_template_file(path)
    rng = random.Random(f"{seed}:{path.name}")
    rows: list[dict[str, Any]] = []
    for family in spec.families:
        for index, template in enumerate(family.templates):
            group = f"{path.stem}/{family.name}/{index}"
            for number, text in enumerate(fillings(template, spec.slots, fillings_per_template, rng)):
                rows.append({"id": f"{group}/{number}", "text": text, "group": group, **family.labels})
    frame = pd.DataFrame(rows)
    for label in label_ids():
        if label not in frame.columns:
            frame[label] = float("nan")
    return frame


class TemplateReaderOptions(_Strict):
    """``reader_options`` of a corpus read with ``contrast_templates``."""

    fillings_per_template: int = Field(default=5, ge=1)
    seed: int = 0


def read_contrast_templates(path: Path, spec: CorpusSpec) -> pd.DataFrame:
    """Special reader ``contrast_templates``: a template file, or every ``*.yaml`` in a directory."""
    try:
        options = TemplateReaderOptions.model_validate(spec.reader_options)
    except ValidationError as exc:
        raise MappingError(f"{spec.name}: invalid reader_options:\n{exc}") from exc
    files = sorted(path.glob("*.yaml")) if path.is_dir() else [path]
    if not files:
        raise MappingError(f"{spec.name}: no template files in {path}")
    frames = [
        expand_template_file(f, fillings_per_template=options.fillings_per_template, seed=options.seed)
        for f in files
    ]
    return pd.concat(frames, ignore_index=True)
