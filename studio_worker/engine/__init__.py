"""Execution engine of the worker; this package re-exports the sandboxed template engine."""

from studio_worker.engine.templates import TemplateError, Templates, default_templates

__all__ = ["TemplateError", "Templates", "default_templates"]
