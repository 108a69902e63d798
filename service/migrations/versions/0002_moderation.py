"""Review queue: comments, per-label scores, reader reports, audit trail.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from civility.service.db.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(200), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("site", sa.String(200), nullable=True),
        sa.Column("story_id", sa.String(200), nullable=False),
        sa.Column("story_url", sa.String(2000), nullable=True),
        sa.Column("parent_id", sa.String(200), nullable=True),
        sa.Column("author_id", sa.String(200), nullable=False),
        sa.Column("author_name", sa.String(200), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(40), nullable=True),
        sa.Column("decision_explanation", sa.Text(), nullable=True),
        sa.Column("corrected_labels", sa.JSON(), nullable=True),
        sa.Column("system_status", sa.String(16), nullable=False),
        sa.Column("system_action", sa.String(16), nullable=False),
        sa.Column("system_reasons", sa.JSON(), nullable=False),
        sa.Column("model_version", sa.String(200), nullable=False),
        sa.Column("scores", sa.JSON(), nullable=False),
        sa.Column("spans", sa.JSON(), nullable=True),
        sa.Column("max_score", sa.Float(), nullable=False),
        sa.Column("top_label", sa.String(40), nullable=False),
        sa.Column("language", sa.String(16), nullable=True),
        sa.Column("english", sa.Boolean(), nullable=False),
        sa.Column("report_count", sa.Integer(), nullable=False),
        sa.Column("open_reports", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_comments"),
        sa.UniqueConstraint("client_id", name="uq_comments_client_id"),
    )
    op.create_index("ix_comments_site", "comments", ["site"])
    op.create_index("ix_comments_story_id", "comments", ["story_id"])
    op.create_index("ix_comments_received_at", "comments", ["received_at"])
    op.create_index("ix_comments_status", "comments", ["status"])
    op.create_index("ix_comments_decided_at", "comments", ["decided_at"])
    op.create_index("ix_comments_max_score", "comments", ["max_score"])
    op.create_index("ix_comments_open_reports", "comments", ["open_reports"])
    op.create_index("ix_comments_priority", "comments", ["priority"])
    op.create_index("ix_comments_author_id_received_at", "comments", ["author_id", "received_at"])
    op.create_index("ix_comments_author_id_text_hash", "comments", ["author_id", "text_hash"])

    op.create_table(
        "comment_scores",
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_comment_scores_comment_id_comments", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("comment_id", "label", name="pk_comment_scores"),
    )
    op.create_index("ix_comment_scores_label_score", "comment_scores", ["label", "score"])

    op.create_table(
        "moderation_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("actor_key_id", sa.Integer(), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=True),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=True),
        sa.Column("undoes_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name="fk_moderation_actions_comment_id_comments",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["undoes_id"],
            ["moderation_actions.id"],
            name="fk_moderation_actions_undoes_id_moderation_actions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_moderation_actions"),
        sa.UniqueConstraint("undoes_id", name="uq_moderation_actions_undoes_id"),
    )
    op.create_index("ix_moderation_actions_comment_id", "moderation_actions", ["comment_id"])
    op.create_index("ix_moderation_actions_created_at", "moderation_actions", ["created_at"])

    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("comment_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(40), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("reporter_id", sa.String(200), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("resolved_at", UTCDateTime(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["comment_id"], ["comments.id"], name="fk_comment_reports_comment_id_comments", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["moderation_actions.id"],
            name="fk_comment_reports_resolved_by_moderation_actions",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_comment_reports"),
    )
    op.create_index("ix_comment_reports_comment_id", "comment_reports", ["comment_id"])
    op.create_index("ix_comment_reports_resolved_by", "comment_reports", ["resolved_by"])

    op.create_table(
        "moderator_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(300), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=True),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_moderator_accounts"),
        sa.UniqueConstraint("username", name="uq_moderator_accounts_username"),
    )


def downgrade() -> None:
    op.drop_table("moderator_accounts")
    op.drop_table("comment_reports")
    op.drop_table("moderation_actions")
    op.drop_table("comment_scores")
    op.drop_table("comments")
