"""Loaded by Inspect through the ``inspect_ai`` entry point: registers the ``sbx`` sandbox
environment."""

from .environment import SbxSandboxEnvironment  # noqa: F401
