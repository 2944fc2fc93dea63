"""The base of every source-file model: unknown keys are errors, values immutable."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["StrictModel"]


class StrictModel(BaseModel):
    # extra="forbid": LiteLLM drops misspelled keys silently; this project reports them, with the
    # closest known key (generator.load).
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=False)
