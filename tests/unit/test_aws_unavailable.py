"""AWS saying "not now" (a throttle, a 503, the local emulator's full disk) is told apart from a bug."""

from __future__ import annotations

from botocore.exceptions import ClientError
from pynamodb.exceptions import PutError

from marketplace.platform.errors import aws_unavailable


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Op")


def test_throttles_and_503s_are_unavailable_wherever_they_are_in_the_chain():
    assert aws_unavailable(_client_error("ServiceUnavailable", 503))
    assert aws_unavailable(_client_error("ProvisionedThroughputExceededException", 400))
    assert aws_unavailable(_client_error("SlowDown", 503))
    assert aws_unavailable(PutError("Failed to put item", _client_error("ThrottlingException", 400)))
    try:
        try:
            raise _client_error("ServiceUnavailable", 503)
        except ClientError as error:
            raise RuntimeError("while writing") from error
    except RuntimeError as wrapped:
        assert aws_unavailable(wrapped)


def test_other_errors_are_not():
    assert not aws_unavailable(_client_error("ConditionalCheckFailedException", 400))
    assert not aws_unavailable(_client_error("InternalError", 500))
    assert not aws_unavailable(ValueError("bug"))
    assert not aws_unavailable(PutError("Failed", _client_error("ValidationException", 400)))
