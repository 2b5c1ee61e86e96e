"""The one exception hierarchy of claimwatch."""


class ClaimwatchError(Exception):
    """Base of every error claimwatch raises on purpose; its message is meant for users."""


class InputError(ClaimwatchError):
    """Input from a person or a file could not be accepted; nothing was changed."""


class NotFound(InputError):
    """The claim (or other record) named does not exist."""


class ConfigError(ClaimwatchError):
    """An environment variable holds a value claimwatch cannot use."""


class StoreError(ClaimwatchError):
    """The data directory cannot be read or written safely."""
