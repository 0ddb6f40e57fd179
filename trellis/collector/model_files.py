"""Reading a YAML file into a pydantic model, every failure one sentence that names the file and the field.

The connectors file, the notifications file and the catalog's webhooks file are read this way, and the
catalog's documents describe their validation errors with ``describe_validation``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def describe_validation(exc: ValidationError, skip: int = 0) -> str:
    """The first validation error as 'field a.b: message'."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"][skip:]) or "document"
    return f"field {where}: {first['msg'].removeprefix('Value error, ')}"


def read_model_file(
    path: Path, model: type[Model], error: type[Exception], what: str = "", empty: object = None
) -> Model:
    """``path``'s YAML as ``model``; ``error`` naming the file (``what`` it is, in the message when it
    cannot be read) and the field. An empty file is read as ``empty``."""
    try:
        raw = yaml.safe_load(path.read_text())
        return model.model_validate(empty if raw is None else raw)
    except OSError as exc:
        raise error(f"{path}: cannot read{f' the {what}' if what else ''}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise error(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except ValidationError as exc:
        raise error(f"{path}: {describe_validation(exc)}") from None


__all__ = ["describe_validation", "read_model_file"]
