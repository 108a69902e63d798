"""Labelling extracted comments: weak sources (model, lexicons, patterns), human labels with
precedence and provenance, and cleanlab label-issue listing."""
