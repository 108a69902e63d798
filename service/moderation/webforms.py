"""Form fields of the moderator web page that the API takes as JSON: corrected labels.

The page sends one field per label it corrects, ``label.<id>`` = ``yes`` | ``no``; an empty value
("not set") or no field leaves the label alone. The result is the ``labels`` dict of a
``DecisionIn``, so web decisions are recorded, audited and exported exactly like API ones.
"""

from __future__ import annotations

from collections.abc import Iterable

from civility.model.labels import label_ids
from civility.service.moderation.errors import InvalidInput

LABEL_FIELD_PREFIX = "label."
NOT_SET = ""
LABEL_VALUES: dict[str, float] = {"yes": 1.0, "no": 0.0}
# (form value, what the moderator sees), in the order the page shows them; "not set" is the default.
LABEL_CHOICES: tuple[tuple[str, str], ...] = ((NOT_SET, "not set"), ("yes", "yes"), ("no", "no"))


def is_label_field(name: str) -> bool:
    return name.startswith(LABEL_FIELD_PREFIX)


def corrected_labels(fields: Iterable[tuple[str, object]]) -> dict[str, float] | None:
    """``label.<id>`` form fields -> ``{label: 1.0 | 0.0}``, or None when nothing was corrected.

    Raises ``InvalidInput`` (422) for an unknown label, a value other than yes/no/empty, a label
    given twice or a non-text (file) value, so a bad form writes nothing.
    """
    known = label_ids()
    allowed = sorted(LABEL_VALUES)
    labels: dict[str, float] = {}
    seen: set[str] = set()
    for name, value in fields:
        label = name.removeprefix(LABEL_FIELD_PREFIX)
        if label not in known:
            raise InvalidInput(f"unknown label {label!r}", field=name, allowed=known)
        if label in seen:
            raise InvalidInput(f"label {label!r} is given more than once", field=name)
        seen.add(label)
        if not isinstance(value, str) or (value != NOT_SET and value not in LABEL_VALUES):
            shown = value if isinstance(value, str) else type(value).__name__
            raise InvalidInput(
                f"label {label!r}: {shown!r} is not one of {allowed} (or empty for not set)",
                field=name,
                allowed=allowed,
            )
        if value != NOT_SET:
            labels[label] = LABEL_VALUES[value]
    return labels or None
