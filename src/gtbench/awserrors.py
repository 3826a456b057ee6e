"""One plain line for the AWS errors a user meets: credentials, permissions, endpoints."""

from __future__ import annotations


def describe_aws_error(exc: BaseException) -> str | None:
    """A one-line explanation of ``exc`` if it is an AWS or connection error, else None."""
    try:
        import botocore.exceptions as bx
    except ImportError:  # pragma: no cover - boto3 is a dependency
        return None
    if isinstance(exc, bx.NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or pass --profile)"
    if isinstance(exc, bx.EndpointConnectionError):
        url = str(exc.kwargs.get("endpoint_url", "the endpoint"))
        if ".amazonaws.com" in url:
            return (f"cannot reach AWS at {url}: check the network connection, any proxy "
                    "(HTTPS_PROXY), and that the region exists")
        return f"cannot reach {url}: is the emulator running? (see `gtbench local status`)"
    if isinstance(exc, bx.ConnectTimeoutError | bx.ReadTimeoutError):
        return f"the endpoint did not answer in time: {exc}"
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        message = error.get("Message", "")
        op = exc.operation_name
        if code in ("AccessDenied", "AccessDeniedException"):
            return f"AWS denied {op}: {message} (grant the permissions listed in docs/aws.md)"
        if code in ("UnrecognizedClientException", "InvalidClientTokenId",
                    "ExpiredTokenException", "ExpiredToken", "InvalidSignatureException"):
            return f"AWS rejected the credentials ({code}): refresh them or pick another profile"
        return f"{op} failed: {code}: {message}"
    if isinstance(exc, bx.BotoCoreError):
        return str(exc)
    return None
