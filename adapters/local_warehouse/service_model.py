"""The local Data API's requests and responses, checked against botocore's `redshift-data` model.

boto3 validates a request on the client (types, required members, minimum lengths) and raises
`ParamValidationError` before anything is sent; the service then checks the rest of the model
(maximum lengths, patterns, enums) and answers `ValidationException`. The stand-in does both, in
that order, and validates each response against the operation's output shape so that it cannot
drift from what AWS returns.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

import botocore.session
from botocore.model import (
    ListShape,
    NoShapeFoundError,
    OperationModel,
    ServiceModel,
    Shape,
    StructureShape,
)
from botocore.validate import validate_parameters

SERVICE_NAME = "redshift-data"


class ResponseShapeError(AssertionError):
    """The stand-in built a response that AWS could not have sent: a bug in the stand-in."""


@cache
def service_model() -> ServiceModel:
    """botocore's model of the Redshift Data API (loaded once, on first use)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def operation_model(operation_name: str) -> OperationModel:
    return service_model().operation_model(operation_name)


def validate_request(operation_name: str, params: dict[str, Any]) -> None:
    """Raise botocore's `ParamValidationError` exactly where boto3 would, before any call."""
    validate_parameters(params, _input_shape(operation_name))


def service_side_problem(operation_name: str, params: dict[str, Any]) -> str | None:
    """What the service rejects beyond boto3's checks: maximum lengths, patterns and enums."""
    return _problem(params, _input_shape(operation_name), "")


def validate_response(operation_name: str, response: dict[str, Any]) -> None:
    """Raise `ResponseShapeError` when `response` does not fit the operation's output shape."""
    body = {key: value for key, value in response.items() if key != "ResponseMetadata"}
    try:
        validate_parameters(body, _output_shape(operation_name))
    except Exception as exc:
        raise ResponseShapeError(
            f"{operation_name} response does not fit the model: {exc}"
        ) from exc


@cache
def http_status(error_code: str) -> int:
    """The HTTP status AWS sends with `error_code`.

    The redshift-data model (a JSON protocol service) carries no status per error: AWS documents
    400 for every client error and 500 for `InternalServerException`.
    """
    try:
        shape = service_model().shape_for(error_code)
    except NoShapeFoundError:
        return 500
    default = 500 if error_code == "InternalServerException" else 400
    return int(shape.metadata.get("error", {}).get("httpStatusCode", default))


def _problem(value: Any, shape: Shape, path: str) -> str | None:
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                problem = _problem(value[name], member, f"{path}.{name}".lstrip("."))
                if problem:
                    return problem
        return None

    if isinstance(shape, ListShape) and isinstance(value, list):
        if "max" in shape.metadata and len(value) > shape.metadata["max"]:
            return f"{path} must have at most {shape.metadata['max']} members"
        for index, item in enumerate(value):
            problem = _problem(item, shape.member, f"{path}[{index}]")
            if problem:
                return problem
        return None

    return _scalar_problem(value, shape, path)


def _scalar_problem(value: Any, shape: Shape, path: str) -> str | None:
    metadata = shape.metadata
    if isinstance(value, str):
        if "max" in metadata and len(value) > metadata["max"]:
            return f"{path} must be at most {metadata['max']} characters long"
        if "pattern" in metadata and not _compiled(metadata["pattern"]).fullmatch(value):
            return f"{path} must match the pattern {metadata['pattern']}"
        if "enum" in metadata and value not in metadata["enum"]:
            return f"{path} must be one of {', '.join(metadata['enum'])}"
    is_number = isinstance(value, int) and not isinstance(value, bool)
    if is_number and "max" in metadata and value > metadata["max"]:
        return f"{path} must be at most {metadata['max']}"
    return None


@cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _input_shape(operation_name: str) -> StructureShape:
    shape = operation_model(operation_name).input_shape
    if shape is None:
        raise ValueError(f"{operation_name} takes no input")
    return shape


def _output_shape(operation_name: str) -> StructureShape:
    shape = operation_model(operation_name).output_shape
    if shape is None:
        raise ValueError(f"{operation_name} returns no output")
    return shape
