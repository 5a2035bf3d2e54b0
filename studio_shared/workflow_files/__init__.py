"""Workflows as files: ``studio workflows export`` writes one YAML file per workflow, ``studio workflows import``
applies a directory of them in one transaction. The format is documented in the README and by ``file_schema``."""

from __future__ import annotations

from studio_shared.workflow_files.format import FORMAT, SCHEMA_PATH, file_schema
from studio_shared.workflow_files.sync import (
    ExportedFile,
    FileResult,
    ImportReport,
    OperatorPrincipal,
    export_workflows,
    import_files,
)
from studio_shared.workflow_files.yamlio import MAX_FILE_BYTES, read_capped

__all__ = [
    "FORMAT",
    "MAX_FILE_BYTES",
    "SCHEMA_PATH",
    "ExportedFile",
    "FileResult",
    "ImportReport",
    "OperatorPrincipal",
    "export_workflows",
    "file_schema",
    "import_files",
    "read_capped",
]
