"""Datasets, their files, and uploads in progress.

A :class:`Dataset` belongs to a project and has a visibility (``public``, ``project`` or
``private``; see :mod:`.catalog` for who sees what). Its files are stored under ``DATA_ROOT`` (see
:mod:`.storage`) with their size and SHA-256. An :class:`Upload` is one file arriving in chunks;
each received chunk is a :class:`UploadChunk` row (one row per chunk, so that chunks sent in
parallel never overwrite each other's bookkeeping).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..db import Base, utc_iso
from ..db import utcnow as utcnow
from ..identity.models import project_name_of

VISIBILITIES = ("public", "project", "private")


class Dataset(Base):
    __tablename__ = "data_datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The public identifier (``ds-`` and 12 hex digits), used in URLs and as a job input value.
    uid: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    license: Mapped[str] = mapped_column(String(100), default="")
    doi: Mapped[str] = mapped_column(String(200), default="")
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    project_name: Mapped[str] = project_name_of(project_id)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    visibility: Mapped[str] = mapped_column(String(16), default="private")
    #: The DNS name the dataset is published under (a CNAME to the load balancer), if any.
    dns_name: Mapped[str | None] = mapped_column(String(255), unique=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    files: Mapped[list[DatasetFile]] = relationship(
        back_populates="dataset", cascade="all, delete-orphan", order_by="DatasetFile.path"
    )

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.uid,
            "name": self.name,
            "description": self.description,
            "license": self.license,
            "doi": self.doi or None,
            "visibility": self.visibility,
            "project": self.project_name,
            "project_id": self.project_id,  # deprecated alias (identity.models.PROJECT_JSON_SCHEMA)
            "dns_name": self.dns_name,
            "size": self.size,
            "created_at": utc_iso(self.created_at),
            "updated_at": utc_iso(self.updated_at),
            "files": [f.to_json() for f in self.files],
        }


class DatasetFile(Base):
    __tablename__ = "data_files"
    __table_args__ = (UniqueConstraint("dataset_id", "path"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("data_datasets.id", ondelete="CASCADE"), index=True)
    #: Relative path inside the dataset (``/``-separated segments, checked by storage.check_path).
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="files")

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "size": self.size, "sha256": self.sha256}


class Upload(Base):
    """One file arriving in chunks. The id is random and unguessable (it is in URLs)."""

    __tablename__ = "data_uploads"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("data_datasets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    path: Mapped[str] = mapped_column(String(1024))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    chunk_size: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    dataset: Mapped[Dataset] = relationship()

    @property
    def chunk_count(self) -> int:
        return max(1, -(-self.size // self.chunk_size))


class UploadChunk(Base):
    __tablename__ = "data_upload_chunks"

    upload_id: Mapped[str] = mapped_column(
        ForeignKey("data_uploads.id", ondelete="CASCADE"), primary_key=True
    )
    index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sha256: Mapped[str] = mapped_column(String(64))
