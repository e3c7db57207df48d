"""syscorr: lay an asyncio program's syscalls and coroutine steps on one timeline."""

__version__ = "0.1.0"

# Version of the trace directory layout written by `syscorr run` / `syscorr import`.
# Readers refuse traces with a newer major version.
TRACE_FORMAT_VERSION = 1
