"""JSON Schemas of the workflow definition, the step envelope and every node type, plus the registry over them."""

from __future__ import annotations

from studio_shared.schemas.messages import schema_problems, sort_problems
from studio_shared.schemas.registry import (
    DEFAULT_COLOR,
    DEFAULT_ICON,
    CompiledSchema,
    NodeRegistry,
    NodeType,
    RegistryError,
    etag_of,
    load_registry,
    registry_document,
    step_output_compiled,
    step_output_schema,
    step_output_schema_document,
    step_output_validator,
    validate_step_output,
    validate_workflow_document,
    workflow_compiled,
    workflow_schema,
    workflow_schema_document,
    workflow_validator,
)
from studio_shared.schemas.validators import UnusableSchema, user_schema

__all__ = [
    "DEFAULT_COLOR",
    "DEFAULT_ICON",
    "CompiledSchema",
    "NodeRegistry",
    "NodeType",
    "RegistryError",
    "UnusableSchema",
    "etag_of",
    "load_registry",
    "registry_document",
    "schema_problems",
    "sort_problems",
    "step_output_compiled",
    "step_output_schema",
    "step_output_schema_document",
    "step_output_validator",
    "user_schema",
    "validate_step_output",
    "validate_workflow_document",
    "workflow_compiled",
    "workflow_schema",
    "workflow_schema_document",
    "workflow_validator",
]
