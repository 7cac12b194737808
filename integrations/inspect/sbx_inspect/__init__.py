"""An Inspect sandbox environment on sbx: ``--sandbox sbx`` (or ``sandbox="sbx"`` /
``sandbox=("sbx", "IMAGE")`` in a task) runs each sample's tools and scorers in an sbx container
sandbox of its own, made at sample init and terminated at cleanup."""

from .environment import SbxConfig, SbxSandboxEnvironment

__all__ = ["SbxConfig", "SbxSandboxEnvironment"]
