"""The run engine: plans and drives runs. Templates are rendered by ``studio_shared.templates``."""
