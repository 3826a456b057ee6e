"""What a failed call tells us: it certainly had no effect, or its effect is unknown.

Experiments record a call that fails as an ``Op`` with Jepsen's outcome instead of
stopping: ``fail`` when DynamoDB refused it (throttled, condition not met), ``info``
when it may have landed (a server error, a timeout, a dropped connection). Errors
that are the user's to fix (access denied, a missing table, bad parameters) are not
results: ``classify`` returns None and the caller lets them go up as one line.
"""

from __future__ import annotations

from gtbench.history import FAIL, INFO, Outcome

THROTTLING = frozenset({"ThrottlingException", "ProvisionedThroughputExceededException",
                        "RequestLimitExceeded"})
# Still failing after botocore's retries: DynamoDB refused these, so they had no effect.
REFUSED = THROTTLING | {"ConditionalCheckFailedException", "TransactionConflictException",
                        "ReplicatedWriteConflictException"}
# The service failed while handling the call: it may or may not have been applied.
UNCERTAIN = frozenset({"InternalServerError", "InternalFailure", "ServiceUnavailable",
                       "ServiceUnavailableException"})


def classify(exc: BaseException) -> tuple[Outcome, str] | None:
    """(outcome, error code) for a call that raised ``exc``, or None for a user's error."""
    from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in REFUSED:
            return FAIL, code
        if code in UNCERTAIN or status >= 500:
            return INFO, code or f"HTTP {status}"
        return None
    # A connection that failed or dropped at any attempt may have carried the request.
    if isinstance(exc, ConnectionError | HTTPClientError):
        return INFO, type(exc).__name__
    return None


def read_failure(exc: BaseException) -> tuple[Outcome, str]:
    """(outcome, error code) for a read that raised ``exc``. A read has no effect, so even
    a user's error (a deleted table) is only a result: ``info`` with its code."""
    from botocore.exceptions import ClientError

    result, code = classify(exc) or (INFO, type(exc).__name__)
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", code))
    return result, code
