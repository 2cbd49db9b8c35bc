"""CloudStack's API errors: HTTP status = `errorcode`, plus the internal `cserrorcode`.

Handlers raise these; the servlet renders them in one place (csapi.api.servlet).
"""

from __future__ import annotations

# ApiErrorCode values.
UNAUTHORIZED = 401
METHOD_NOT_ALLOWED = 405
MALFORMED_PARAMETER_ERROR = 430
PARAM_ERROR = 431
UNSUPPORTED_ACTION_ERROR = 432
INTERNAL_ERROR = 530
ACCOUNT_ERROR = 531
RESOURCE_UNAVAILABLE_ERROR = 534
RESOURCE_ALLOCATION_ERROR = 535
RESOURCE_IN_USE_ERROR = 536

# CSExceptionErrorCode values.
CS_SERVER_API = 9999
CS_CLOUD_RUNTIME = 4250
CS_INVALID_PARAMETER = 4350
CS_PERMISSION_DENIED = 4365
CS_RESOURCE_ALLOCATION = 4370
CS_RESOURCE_IN_USE = 4375
CS_UNAVAILABLE_COMMAND = 4555

CREDENTIALS_TEXT = "unable to verify user credentials and/or request signature"
USER_ERROR_MESSAGE = (
    "Internal error executing command, please contact your system administrator"
)


class ApiError(Exception):
    """An error answered with CloudStack's envelope."""

    def __init__(
        self,
        code: int,
        text: str,
        cs_code: int | None = CS_SERVER_API,
        *,
        uuids: list[dict[str, str]] | None = None,
        envelope: str | None = None,
    ) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.cs_code = cs_code
        self.uuids = uuids or []
        # Overrides the envelope name (e.g. "errorresponse" for unknown commands).
        self.envelope = envelope


class InvalidParameterValue(ApiError):
    def __init__(self, text: str) -> None:
        super().__init__(PARAM_ERROR, text, CS_INVALID_PARAMETER)


class ParamError(ApiError):
    """A 431 raised by the framework itself (ServerApiException, cserrorcode 9999)."""

    def __init__(self, text: str) -> None:
        super().__init__(PARAM_ERROR, text, CS_SERVER_API)


class PermissionDenied(ApiError):
    def __init__(self, text: str) -> None:
        super().__init__(ACCOUNT_ERROR, text, CS_PERMISSION_DENIED)


class CloudRuntimeError(ApiError):
    def __init__(self, text: str) -> None:
        super().__init__(INTERNAL_ERROR, text, CS_CLOUD_RUNTIME)


class ServerError(ApiError):
    """ServerApiException(INTERNAL_ERROR, text): 530 with cserrorcode 9999."""

    def __init__(self, text: str) -> None:
        super().__init__(INTERNAL_ERROR, text, CS_SERVER_API)


class Unauthorized(ApiError):
    """Servlet-level 401: no cserrorcode."""

    def __init__(self, text: str = CREDENTIALS_TEXT) -> None:
        super().__init__(UNAUTHORIZED, text, None)


def missing_parameter(command: str, param: str) -> ParamError:
    return ParamError(
        f"Unable to execute API command {command.lower()} due to missing parameter {param}"
    )


def invalid_value(command: str, value: str, param: str) -> ParamError:
    return ParamError(
        f"Unable to execute API command {command.lower()} due to invalid value {value} "
        f"for parameter {param}"
    )


def unknown_uuid(command: str, param: str, value: str) -> ParamError:
    return ParamError(
        f"Unable to execute API command {command.lower()} due to invalid value. "
        f"Invalid parameter {param} value={value} due to incorrect long value format, or "
        "entity does not exist or due to incorrect parameter annotation for the field in api "
        "cmd class."
    )


def too_long(command: str, limit: int, param: str) -> ParamError:
    return ParamError(
        f"Unable to execute API command {command.lower()} due to invalid value. "
        f"Value greater than max allowed length {limit} for param: {param}"
    )
