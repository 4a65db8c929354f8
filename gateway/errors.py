"""The exception tree: one root, caught by category.

Purpose: callers catch what they can act on -- an admin's file is wrong (`AdminInputError`: exit
2 at start, keep the running set on reload), the gateway cannot start (`StartupError`), a
message cannot be analysed or relayed now (`TemporaryFailure`: answer 4xx, never lose it) --
without importing every module that raises. Errors a person reads name the file, the line and
the fix (STYLE.md rule 9). Untrusted input: none.

    GatewayError
     +-- AdminInputError (ValueError)         the admin's files: fix and restart or reload
     |    +-- ConfigError                     gateway/config.py       config file (all errors listed)
     |    +-- PolicyError                     gateway/policy/         policy files, actions (all errors listed)
     |    +-- DataError                       gateway/refdata.py      organisations, lists, indicators, names (all)
     |    +-- YamlError                       gateway/yamlmarks.py    any YAML file the loaders read
     |    +-- CasesError                      gateway/policy/evaluate.py  cases and labels files
     |    +-- TemplateError                   gateway/act/banner.py   banner templates
     +-- StartupError (RuntimeError)          gateway/smtp/service.py port in use, store cannot open, ...
     +-- TemporaryFailure                     a message could not be handled now: 4xx
     |    +-- AnalysisFailed                  gateway/runtime.py      on_error: tempfail
     |    +-- UpstreamError                   gateway/smtp/upstream.py  the upstream refused or failed (defined here:
     |                                        the executor, gateway/act/execute.py, catches it without smtp/)
     +-- MessageRejected                      a message is refused for good: 5xx
          +-- HeaderLimitExceeded (ValueError) gateway/parse.py       header over the limits: 552
"""

from __future__ import annotations

from collections.abc import Sequence

from gateway.model import Reply


class GatewayError(Exception):
    """Root of every exception the gateway raises on purpose."""


class AdminInputError(GatewayError, ValueError):
    """An admin-written file is invalid. `errors` lists every problem found, each
    `file:line: problem; fix` (gateway/problems.py collects them); the message is one per line."""

    kind = "error"  # how each of its lines is labelled on stderr ("config error: ...")

    def __init__(self, errors: Sequence[str] | str) -> None:
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))

    def lines(self) -> list[str]:
        """One labelled line per problem, as the command line prints them."""
        return [f"{self.kind}: {e}" for e in self.errors]


def log_lines(error: BaseException | str) -> list[str]:
    """What to log of `error`, one log record per item and no newline in any (admin21 00:38: a
    reload with three config errors logged one record over three physical lines, the 2nd and 3rd
    without timestamp or logger: syslog and grep see each line alone). An `AdminInputError`
    gives its problems; anything else its text's lines."""
    items = error.errors if isinstance(error, AdminInputError) else [str(error)]
    lines = [ln.strip() for item in items for ln in str(item).splitlines() if ln.strip()]
    return lines or [type(error).__name__ if isinstance(error, BaseException) else "(no message)"]


class DataError(AdminInputError):
    """Reference data (organisations, domain lists, names, indicators) is invalid."""

    kind = "data error"


class StartupError(GatewayError, RuntimeError):
    """The gateway cannot start; the message is one line saying what and how to fix it."""


class TemporaryFailure(GatewayError):
    """This message cannot be handled now; the sender should retry (4xx)."""


class UpstreamError(TemporaryFailure):
    """The upstream failed (connection, timeout, broken reply) or refused; `reply` is the 4xx
    (or the upstream's own refusal) to pass on, `str(exc)` the detail for the log."""

    def __init__(self, reply: Reply, detail: str) -> None:
        super().__init__(detail)
        self.reply = reply


class MessageRejected(GatewayError):
    """This message is refused for good (5xx)."""
