"""Typed user-facing errors.

Every error a user can cause (bad data, bad recipe, a model that does not fit, an artifact
that fails its accuracy gate) is one of these. The CLI turns them into one line and exit
code 2; anything else is a bug and keeps its traceback.
"""


class EdgeSDKError(Exception):
    """Base class: the message is the single line shown to the user (problem + fix)."""

    exit_code = 2


class DataError(EdgeSDKError):
    """Input data is missing, malformed or unusable for training."""


class RecipeError(EdgeSDKError):
    """A recipe file is unreadable or does not validate."""


class TeacherError(EdgeSDKError):
    """A teacher checkpoint directory cannot be loaded."""


class TargetError(EdgeSDKError):
    """Unknown target or target family."""


class ArtifactError(EdgeSDKError):
    """An exported artifact is missing, corrupt or lacks its sidecar files."""


class ParityError(EdgeSDKError):
    """Two implementations of the same model disagree beyond tolerance."""


class AccuracyGateError(EdgeSDKError):
    """An artifact lost more accuracy against the eager model than the recipe allows."""


class LoweringError(EdgeSDKError):
    """A model could not be lowered to a runtime's file format."""


class FitError(EdgeSDKError):
    """The build's artifacts exceed the target's flash or RAM budget, or it runs none of them."""

    def __init__(self, message: str, details: dict | None = None):
        super().__init__(message)
        self.details = details or {}


class OutputError(EdgeSDKError):
    """An output location (build dir, cache dir) is a file, or sits under one, or cannot be written."""


class PackageError(EdgeSDKError):
    """An app or firmware package cannot be written or fails its own check."""


class SweepError(EdgeSDKError):
    """A sweep cannot start: a grid file that names no recipe key, an unreachable Ray cluster."""
